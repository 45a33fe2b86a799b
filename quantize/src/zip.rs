//! The small part of ZIP that PyTorch's `torch.save` archives use: STORED (uncompressed) entries found
//! through the central directory, zip64 included. Compressed or encrypted entries are rejected: their
//! bytes cannot be memory-mapped, and torch never writes them.

use crate::error::{FormatError, Result};

#[derive(Debug, Clone)]
pub struct ZipEntry {
    pub name: String,
    /// Absolute offset of the entry's data in the archive.
    pub data_offset: u64,
    pub size: u64,
}

fn rd<const N: usize>(b: &[u8], at: u64) -> Option<[u8; N]> {
    let s = usize::try_from(at).ok()?;
    b.get(s..s.checked_add(N)?).and_then(|x| x.try_into().ok())
}
fn u16_at(b: &[u8], at: u64) -> Option<u64> {
    rd::<2>(b, at).map(|x| u16::from_le_bytes(x) as u64)
}
fn u32_at(b: &[u8], at: u64) -> Option<u64> {
    rd::<4>(b, at).map(|x| u32::from_le_bytes(x) as u64)
}
fn u64_at(b: &[u8], at: u64) -> Option<u64> {
    rd::<8>(b, at).map(u64::from_le_bytes)
}

const EOCD_SIG: u64 = 0x0605_4b50;
const EOCD64_SIG: u64 = 0x0606_4b50;
const EOCD64_LOC_SIG: u64 = 0x0706_4b50;
const CDH_SIG: u64 = 0x0201_4b50;
const LFH_SIG: u64 = 0x0403_4b50;

/// Lists the entries of a stored zip held in `b`.
pub fn read_entries(file: &str, b: &[u8]) -> Result<Vec<ZipEntry>> {
    let err = |d: String| FormatError::Zip { file: file.into(), detail: d };
    let len = b.len() as u64;
    // The end record is in the last 22 + 65535 (comment) bytes.
    let lo = len.saturating_sub(22 + 65535);
    let mut eocd = None;
    let mut at = len.saturating_sub(22);
    while len >= 22 && at >= lo {
        if u32_at(b, at) == Some(EOCD_SIG) {
            eocd = Some(at);
            break;
        }
        if at == 0 {
            break;
        }
        at -= 1;
    }
    let eocd = eocd.ok_or_else(|| err("no end-of-central-directory record".into()))?;
    let short = || err("end record truncated".into());
    let mut n_entries = u16_at(b, eocd + 10).ok_or_else(short)?;
    let mut cd_size = u32_at(b, eocd + 12).ok_or_else(short)?;
    let mut cd_off = u32_at(b, eocd + 16).ok_or_else(short)?;
    if (n_entries == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_off == 0xFFFF_FFFF) && eocd >= 20 && u32_at(b, eocd - 20) == Some(EOCD64_LOC_SIG) {
        let e64 = u64_at(b, eocd - 20 + 8).ok_or_else(short)?;
        if u32_at(b, e64) != Some(EOCD64_SIG) {
            return Err(err(format!("zip64 end record missing at offset {e64}")));
        }
        n_entries = u64_at(b, e64 + 32).ok_or_else(short)?;
        cd_size = u64_at(b, e64 + 40).ok_or_else(short)?;
        cd_off = u64_at(b, e64 + 48).ok_or_else(short)?;
    }
    if cd_off.checked_add(cd_size).is_none_or(|e| e > len) {
        return Err(err(format!("central directory [{cd_off}, +{cd_size}) outside the file of {len} bytes")));
    }
    // A central header is at least 46 bytes: bounds the count before allocating.
    if n_entries > cd_size / 46 {
        return Err(err(format!("{n_entries} entries cannot fit a central directory of {cd_size} bytes")));
    }
    let mut out = Vec::with_capacity(n_entries as usize);
    let mut p = cd_off;
    for i in 0..n_entries {
        let bad = || err(format!("central directory entry {i} truncated"));
        if u32_at(b, p) != Some(CDH_SIG) {
            return Err(err(format!("bad central directory signature at offset {p}")));
        }
        let flags = u16_at(b, p + 8).ok_or_else(bad)?;
        let method = u16_at(b, p + 10).ok_or_else(bad)?;
        let mut csize = u32_at(b, p + 20).ok_or_else(bad)?;
        let mut usize_ = u32_at(b, p + 24).ok_or_else(bad)?;
        let name_len = u16_at(b, p + 28).ok_or_else(bad)?;
        let extra_len = u16_at(b, p + 30).ok_or_else(bad)?;
        let comment_len = u16_at(b, p + 32).ok_or_else(bad)?;
        let mut lho = u32_at(b, p + 42).ok_or_else(bad)?;
        let name_at = p + 46;
        let name_bytes = b.get(name_at as usize..(name_at + name_len) as usize).ok_or_else(bad)?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        // zip64 extra field: the 64-bit values of the fields that are 0xFFFFFFFF, in this order.
        let mut e = name_at + name_len;
        let e_end = e + extra_len;
        while e + 4 <= e_end {
            let id = u16_at(b, e).ok_or_else(bad)?;
            let sz = u16_at(b, e + 2).ok_or_else(bad)?;
            if id == 1 {
                let mut q = e + 4;
                for v in [&mut usize_, &mut csize, &mut lho] {
                    if *v == 0xFFFF_FFFF && q + 8 <= e + 4 + sz {
                        *v = u64_at(b, q).ok_or_else(bad)?;
                        q += 8;
                    }
                }
            }
            e += 4 + sz;
        }
        if flags & 1 != 0 {
            return Err(err(format!("entry `{name}` is encrypted")));
        }
        if method != 0 {
            return Err(err(format!("entry `{name}` is compressed (method {method}); only stored entries are supported")));
        }
        if csize != usize_ {
            return Err(err(format!("stored entry `{name}` has compressed size {csize} != size {usize_}")));
        }
        if u32_at(b, lho) != Some(LFH_SIG) {
            return Err(err(format!("entry `{name}`: no local header at offset {lho}")));
        }
        let lname = u16_at(b, lho + 26).ok_or_else(bad)?;
        let lextra = u16_at(b, lho + 28).ok_or_else(bad)?;
        let data_offset = lho + 30 + lname + lextra;
        if data_offset.checked_add(csize).is_none_or(|end| end > len) {
            return Err(err(format!("entry `{name}` data [{data_offset}, +{csize}) lies outside the file of {len} bytes")));
        }
        out.push(ZipEntry { name, data_offset, size: csize });
        p = e_end + comment_len;
    }
    Ok(out)
}
