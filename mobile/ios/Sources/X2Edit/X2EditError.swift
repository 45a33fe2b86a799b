import X2EditFFI

/// A failed call into libx2edit: the status code and the library's message.
public struct X2EditError: Error, CustomStringConvertible, Sendable {
    public enum Code: UInt32, Sendable {
        case invalidArgument = 1, invalidHandle, io, model, gpu, cancelled, busy, unsupported, `internal`
    }

    public let code: Code
    public let message: String

    public var description: String { message }
    public var isCancelled: Bool { code == .cancelled }
}

/// Throws the thread's last error when `status` is not X2E_OK. Call right after the C call, on
/// the same thread: the message is thread-local.
@inline(__always)
func check(_ status: x2e_status) throws {
    guard status != X2E_OK else { return }
    let message = String(cString: x2e_last_error())
    throw X2EditError(code: X2EditError.Code(rawValue: status.rawValue) ?? .internal, message: message)
}
