import Foundation
import X2EditFFI

/// An 8-bit RGB or RGBA image held by the library (x2e_image); immutable, so it may be shared
/// across threads. Pixels are copied in and out; the handle is freed when the object goes.
public final class Image: @unchecked Sendable {
    let handle: OpaquePointer
    public let width: Int
    public let height: Int
    public let format: PixelFormat

    init(handle: OpaquePointer) throws {
        var w: UInt32 = 0, h: UInt32 = 0, f: Int32 = 0
        try check(x2e_image_info(handle, &w, &h, &f))
        self.handle = handle
        width = Int(w)
        height = Int(h)
        format = PixelFormat(rawValue: f) ?? .rgb8
    }

    /// Copies `pixels` (rows `stride` bytes apart; 0: packed).
    public convenience init(width: Int, height: Int, format: PixelFormat, pixels: Data, stride: Int = 0) throws {
        var out: OpaquePointer?
        try pixels.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            try check(x2e_image_new(UInt32(width), UInt32(height), format.rawValue,
                                    raw.bindMemory(to: UInt8.self).baseAddress, stride, raw.count, &out))
        }
        try self.init(handle: out!)
    }

    /// The pixels in `format`, rows packed.
    public func pixels(_ format: PixelFormat = .rgba8) throws -> Data {
        var data = Data(count: width * height * Int(format.rawValue))
        let count = data.count
        try data.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer) in
            try check(x2e_image_read(handle, format.rawValue, raw.bindMemory(to: UInt8.self).baseAddress, 0, count))
        }
        return data
    }

    deinit { x2e_image_free(handle) }
}
