import X2EditFFI

/// Stages of an edit, in order.
public enum Stage: Int, Sendable { case text = 0, encode, denoise, decode }

/// One progress report: `step` denoising steps done out of `steps` (0 outside `.denoise`).
public struct Progress: Sendable, Equatable {
    public let stage: Stage
    public let step: Int
    public let steps: Int
}

public enum Precision: Int32, Sendable { case auto = 0, f32 = 1, f16 = 2 }

public enum SizeMode: Int32, Sendable {
    /// The model's native size (1024 for full-size models).
    case native = 0
    /// Short side to 512, centre crop 512x512.
    case px512 = 1
    /// The nearest of X2Edit's aspect buckets around 1024x1024.
    case px1024 = 2
    /// The source's size rounded down to multiples of 16.
    case source = 3
}

public enum PromptFormat: Int32, Sendable { case x2edit = 0, raw = 1 }

/// 8-bit channels in memory order R, G, B(, A); the raw value is the bytes per pixel.
public enum PixelFormat: Int32, Sendable { case rgb8 = 3, rgba8 = 4 }

/// One edit's settings (x2e_edit_params).
public struct EditParams: Sendable {
    public static let taskAuto: Int32 = -1
    public var prompt: String
    public var task: Int32 = taskAuto
    public var steps: UInt32 = 0
    public var guidance: Float = 3.5
    public var seed: UInt64 = 0
    public var size: SizeMode = .native
    public var promptFormat: PromptFormat = .x2edit
    public var condSample = false
    public var memoryBudget: UInt64 = 0

    public init(prompt: String, seed: UInt64 = 0, steps: UInt32 = 0) {
        self.prompt = prompt
        self.seed = seed
        self.steps = steps
    }
}

/// What `Editor.edits(...)` yields: progress, then the image once.
public enum EditEvent: Sendable {
    case progress(Progress)
    case done(Image)
}
