import Foundation
import X2EditFFI

/// The four models of an edit (x2e_model). They hold no GPU memory between edits, so one
/// Model may serve several Editors at once.
public final class Model: @unchecked Sendable {
    let handle: OpaquePointer

    private init(_ handle: OpaquePointer) { self.handle = handle }

    /// The embedded demo model (tiny, random weights): what `x2edit edit` uses with no model.
    public static func demo() throws -> Model {
        var m: OpaquePointer?
        try check(x2e_model_new_demo(&m))
        return Model(m!)
    }

    /// Model files by path (memory-mapped; they must stay in place while the Model lives). Nil
    /// entries come from `directory` (transformer/, adapter/, text_encoder/, vae/ or .gguf files).
    public static func files(directory: URL? = nil, transformer: URL? = nil, transformerConfig: URL? = nil,
                             adapter: URL? = nil, textEncoder: URL? = nil, vae: URL? = nil,
                             vaeConfig: URL? = nil) throws -> Model {
        var p = x2e_model_params()
        try check(x2e_model_params_init(&p, MemoryLayout<x2e_model_params>.size))
        // strdup'ed paths, freed after the call (the library copies what it keeps).
        let urls = [directory, transformer, transformerConfig, adapter, textEncoder, vae, vaeConfig]
        let c: [UnsafeMutablePointer<CChar>?] = urls.map { url in url.flatMap { strdup($0.path) } }
        defer { c.forEach { free($0) } }
        p.model_dir = UnsafePointer(c[0])
        p.transformer = UnsafePointer(c[1])
        p.transformer_config = UnsafePointer(c[2])
        p.adapter = UnsafePointer(c[3])
        p.text_encoder = UnsafePointer(c[4])
        p.vae = UnsafePointer(c[5])
        p.vae_config = UnsafePointer(c[6])
        var m: OpaquePointer?
        try check(x2e_model_new(&p, &m))
        return Model(m!)
    }

    /// Four GGUF files in memory (copied by the library).
    public static func gguf(transformer: Data, adapter: Data, textEncoder: Data, vae: Data) throws -> Model {
        var m: OpaquePointer?
        try transformer.withUnsafeBytes { t in
            try adapter.withUnsafeBytes { a in
                try textEncoder.withUnsafeBytes { te in
                    try vae.withUnsafeBytes { v in
                        func buf(_ r: UnsafeRawBufferPointer) -> x2e_buffer {
                            x2e_buffer(data: r.bindMemory(to: UInt8.self).baseAddress, size: r.count)
                        }
                        var b = x2e_model_buffers(transformer: buf(t), adapter: buf(a), text_encoder: buf(te), vae: buf(v))
                        try check(x2e_model_new_from_memory(&b, &m))
                    }
                }
            }
        }
        return Model(m!)
    }

    deinit { x2e_model_free(handle) }
}
