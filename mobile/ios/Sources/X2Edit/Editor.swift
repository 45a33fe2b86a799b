import Foundation
import X2EditFFI

/// A GPU device that runs edits (x2e_context). One edit at a time per Editor: a concurrent
/// edit throws `X2EditError` with code `.busy`; use one Editor per parallel edit. Models and
/// images may be shared. Edits run on a thread of their own (they block for seconds to
/// minutes), never on Swift's cooperative pool.
public final class Editor: @unchecked Sendable {
    let handle: OpaquePointer

    /// Opens the GPU (Metal). `adapter`: a substring of the adapter name; `maxBinding`: cap on
    /// the storage binding size in bytes (0: the adapter's).
    public init(precision: Precision = .auto, adapter: String? = nil, maxBinding: UInt64 = 0) throws {
        var p = x2e_context_params()
        try check(x2e_context_params_init(&p, MemoryLayout<x2e_context_params>.size))
        p.precision = precision.rawValue
        p.max_binding = maxBinding
        var ctx: OpaquePointer?
        if let adapter {
            try adapter.withCString { a in
                p.adapter = a
                try check(x2e_context_new(&p, &ctx))
            }
        } else {
            try check(x2e_context_new(&p, &ctx))
        }
        handle = ctx!
    }

    deinit { x2e_context_free(handle) }

    /// The adapter's name.
    public var adapterName: String {
        x2e_context_adapter_name(handle).map { String(cString: $0) } ?? ""
    }

    /// Asks the running edit to stop; it then throws `X2EditError` with code `.cancelled`.
    public func cancel() { x2e_cancel(handle) }

    /// Edits `image`; `progress` is called on the edit's thread. Cancelling the Task cancels
    /// the edit (within one denoising step) and throws `CancellationError`.
    public func edit(model: Model, image: Image, params: EditParams,
                     progress: @escaping @Sendable (Progress) -> Void = { _ in }) async throws -> Image {
        try await withTaskCancellationHandler {
            let result: Result<Image, Error> = await withCheckedContinuation { cont in
                let thread = Thread { cont.resume(returning: Result(catching: { try self.editBlocking(model, image, params, progress) })) }
                // Rust code gets a main-thread-sized stack, not the 512 KiB of secondary threads.
                thread.stackSize = 8 << 20
                thread.start()
            }
            if case .failure(let e as X2EditError) = result, e.isCancelled, Task.isCancelled {
                throw CancellationError()
            }
            return try result.get()
        } onCancel: {
            self.cancel()
        }
    }

    /// The edit as a stream: `.progress` reports, then `.done` once. Ending the iteration
    /// early cancels the edit; a failure ends the stream with its error.
    public func edits(model: Model, image: Image, params: EditParams) -> AsyncThrowingStream<EditEvent, Error> {
        AsyncThrowingStream { continuation in
            let thread = Thread {
                do {
                    let out = try self.editBlocking(model, image, params) { continuation.yield(.progress($0)) }
                    continuation.yield(.done(out))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            thread.stackSize = 8 << 20
            continuation.onTermination = { reason in
                if case .cancelled = reason { self.cancel() }
            }
            thread.start()
        }
    }

    /// Boxes the progress closure for the C callback's user_data.
    private final class Listener {
        let f: (Progress) -> Void
        init(_ f: @escaping (Progress) -> Void) { self.f = f }
    }

    private func editBlocking(_ model: Model, _ image: Image, _ params: EditParams,
                              _ progress: @escaping (Progress) -> Void) throws -> Image {
        var p = x2e_edit_params()
        try check(x2e_edit_params_init(&p, MemoryLayout<x2e_edit_params>.size))
        p.task = params.task
        p.prompt_format = params.promptFormat.rawValue
        p.steps = params.steps
        p.guidance = params.guidance
        p.seed = params.seed
        p.size = params.size.rawValue
        p.cond_sample = params.condSample ? 1 : 0
        p.memory_budget = params.memoryBudget
        let listener = Listener(progress)
        let user = Unmanaged.passUnretained(listener).toOpaque()
        let callback: x2e_progress_fn = { stage, step, steps, user in
            let l = Unmanaged<Listener>.fromOpaque(user!).takeUnretainedValue()
            l.f(Progress(stage: Stage(rawValue: Int(stage.rawValue)) ?? .text, step: Int(step), steps: Int(steps)))
            return 0
        }
        var out: OpaquePointer?
        try withExtendedLifetime(listener) {
            try params.prompt.withCString { prompt in
                p.prompt = prompt
                try check(x2e_edit(handle, model.handle, image.handle, &p, callback, user, &out))
            }
        }
        return try Image(handle: out!)
    }

    /// The library's ABI version, major << 16 | minor.
    public static var apiVersion: UInt32 { x2e_api_version() }
}
