//! X2Edit's 16 task ids: the 15 labels its router answers with (X2E `infer.py::all_dict`,
//! `src/intention_qwen3.py`), the aliases its training data uses (X2E
//! `src/custom_dataset_1024.py::to_type_id`), and the classification prompt.

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Task {
    /// Id 0: the router's answer matched no label.
    Unknown = 0,
    SubjectRemoval = 1,
    SubjectAddition = 2,
    StyleChange = 3,
    BackgroundChange = 4,
    ColorChange = 5,
    MaterialChange = 6,
    ActionChange = 7,
    SubjectReplacement = 8,
    PortraitRetouch = 9,
    TextChange = 10,
    ToneTransfer = 11,
    CameraMove = 12,
    ImplicitChange = 13,
    LowLevel = 14,
    Subject = 15,
}

use Task::*;

/// Every task in id order.
pub const ALL: [Task; 16] = [
    Unknown, SubjectRemoval, SubjectAddition, StyleChange, BackgroundChange, ColorChange, MaterialChange, ActionChange,
    SubjectReplacement, PortraitRetouch, TextChange, ToneTransfer, CameraMove, ImplicitChange, LowLevel, Subject,
];

impl Task {
    pub fn id(self) -> u32 {
        self as u32
    }

    pub fn from_id(id: u32) -> Option<Task> {
        ALL.get(id as usize).copied()
    }

    /// The label X2Edit's router must answer with (its spelling, `low_leval` included).
    pub fn label(self) -> &'static str {
        match self {
            Unknown => "unknown",
            SubjectRemoval => "删除主体",
            SubjectAddition => "添加主体",
            StyleChange => "风格更改",
            BackgroundChange => "背景更改",
            ColorChange => "颜色更改",
            MaterialChange => "材料更改",
            ActionChange => "动作更改",
            SubjectReplacement => "替换主体",
            PortraitRetouch => "人物修图",
            TextChange => "文字更改",
            ToneTransfer => "色调变换",
            CameraMove => "相机移动",
            ImplicitChange => "implicit_change",
            LowLevel => "low_leval",
            Subject => "subject",
        }
    }

    /// Our English name (accepted by `--task`, printed in reports).
    pub fn name(self) -> &'static str {
        match self {
            Unknown => "unknown",
            SubjectRemoval => "subject_removal",
            SubjectAddition => "subject_addition",
            StyleChange => "style_change",
            BackgroundChange => "background_change",
            ColorChange => "color_change",
            MaterialChange => "material_change",
            ActionChange => "action_change",
            SubjectReplacement => "subject_replacement",
            PortraitRetouch => "portrait_retouch",
            TextChange => "text_change",
            ToneTransfer => "tone_transfer",
            CameraMove => "camera_move",
            ImplicitChange => "implicit_change",
            LowLevel => "low_level",
            Subject => "subject",
        }
    }

    /// X2Edit's training aliases of the task.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Unknown => &[],
            SubjectRemoval => &["removal", "remove", "ObjectRemoval", "WaterMarkRemoval", "SnowRemoval"],
            SubjectAddition => &["addition", "add"],
            StyleChange => &["style", "style_change", "change style"],
            BackgroundChange => &["background_change", "change background"],
            ColorChange => &["color_alter", "Colorization"],
            MaterialChange => &["material_alter", "材质更改", "material_change", "visual_material_change"],
            ActionChange => &["motion_change", "action_change", "attribute_modification"],
            SubjectReplacement => &["subject-replace", "swap", "replace", "replace object"],
            PortraitRetouch => &["ps_human", "appearance_alter", "change expression"],
            TextChange => &["text_change", "text change"],
            ToneTransfer => &["色调迁移", "tune_transfer", "tone_transfer"],
            CameraMove => &["movement", "rotation_change", "resize", "Camera Move Editing"],
            ImplicitChange => &["Reasoning", "implicit_change", "relation", "Reasoning Editing"],
            LowLevel => &["low_leval"],
            Subject => &["subject", "style transfer"],
        }
    }

    /// A task by label, alias or English name; case, spaces, '-' and '_' do not matter.
    pub fn from_name(name: &str) -> Option<Task> {
        let key = fold(name);
        ALL.into_iter().find(|t| fold(t.label()) == key || fold(t.name()) == key || t.aliases().iter().any(|a| fold(a) == key))
    }

    /// X2Edit's rule for the router's decoded answer (newlines stripped, then an exact label,
    /// else 0), widened for the Qwen2.5 model we ask instead of Qwen3: surrounding whitespace,
    /// quotes and final punctuation are ignored and aliases count too.
    pub fn from_answer(text: &str) -> Task {
        let exact = text.trim_matches('\n');
        if let Some(t) = ALL[1..].iter().find(|t| t.label() == exact) {
            return *t;
        }
        let trimmed = text.trim().trim_matches(|c: char| "'\"`“”‘’「」。.!！:：".contains(c)).trim();
        match Task::from_name(trimmed) {
            Some(t) => t,
            None => Unknown,
        }
    }
}

fn fold(s: &str) -> String {
    s.trim().chars().map(|c| if c == '-' || c == ' ' { '_' } else { c.to_ascii_lowercase() }).collect()
}

/// What `--task` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskChoice {
    /// Classify the instruction with the loaded Qwen2.5 model.
    Auto,
    Fixed(Task),
}

impl std::str::FromStr for TaskChoice {
    type Err = Error;
    /// `auto`, an id 0..15, or a label / alias / name.
    fn from_str(s: &str) -> Result<TaskChoice> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(TaskChoice::Auto);
        }
        if let Ok(id) = s.trim().parse::<u32>() {
            return Task::from_id(id).map(TaskChoice::Fixed).ok_or_else(|| Error::invalid("--task", format!("id {id} is outside 0..15")));
        }
        Task::from_name(s).map(TaskChoice::Fixed).ok_or_else(|| {
            let names: Vec<&str> = ALL[1..].iter().map(|t| t.name()).collect();
            Error::invalid("--task", format!("{s:?} is not auto, an id 0..15, a label or one of {}", names.join(", ")))
        })
    }
}

/// X2Edit's classification prompt (X2E `src/intention_qwen3.py`, byte for byte, its
/// indentation and the Python list repr of the labels included).
pub fn route_prompt(instruction: &str) -> String {
    let labels: Vec<String> = ALL[1..].iter().map(|t| format!("'{}'", t.label())).collect();
    format!(
        "\n        我现在输入一个图片编辑指令:{instruction}，总共15个类别:[{}]，判断我的指令属于哪个类别。直接输出类别，不需要中间结果; \n        其中implicit_change表示推理的问题，比如**情况，发生什么？或者改变物体之间关系; low_leval表示图片转换，比如Canny/Depth/Linear image generates images； \n        subject表示没有明确的编辑意图，而是对图片的主体做了其他描述的个性化生成,比如A sticker of this object。\n    ",
        labels.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_and_alias_maps_back() {
        for t in ALL {
            assert_eq!(Task::from_id(t.id()), Some(t));
            assert_eq!(Task::from_name(t.label()), Some(t), "{t:?}");
            assert_eq!(Task::from_name(t.name()), Some(t));
            for a in t.aliases() {
                assert_eq!(Task::from_name(a), Some(t), "alias {a}");
            }
        }
        assert_eq!(Task::from_answer("\n删除主体\n"), SubjectRemoval);
        assert_eq!(Task::from_answer("色调变换。"), ToneTransfer);
        assert_eq!(Task::from_answer("hmm"), Unknown);
        assert_eq!("auto".parse::<TaskChoice>().unwrap(), TaskChoice::Auto);
        assert_eq!("7".parse::<TaskChoice>().unwrap(), TaskChoice::Fixed(ActionChange));
        assert_eq!("Camera Move Editing".parse::<TaskChoice>().unwrap(), TaskChoice::Fixed(CameraMove));
        assert!("16".parse::<TaskChoice>().is_err() && "paint".parse::<TaskChoice>().is_err());
    }
}
