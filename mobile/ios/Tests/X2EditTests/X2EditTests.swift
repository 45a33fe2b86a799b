import XCTest
@testable import X2Edit

/// Runs on macOS (Metal) with the embedded demo model: `swift test` in mobile/ios after
/// ./build-xcframework.sh.
final class X2EditTests: XCTestCase {
    func source() throws -> Image {
        var px = Data(count: 48 * 40 * 3)
        for i in 0..<px.count { px[i] = UInt8(i % 251) }
        return try Image(width: 48, height: 40, format: .rgb8, pixels: px)
    }

    func testEditWithProgress() async throws {
        let editor = try Editor()
        let model = try Model.demo()
        let seen = LockedList()
        let out = try await editor.edit(model: model, image: try source(), params: EditParams(prompt: "make it blue", seed: 7, steps: 2)) {
            seen.append($0)
        }
        XCTAssertEqual(out.width, 64)
        XCTAssertEqual(try out.pixels(.rgb8).count, out.width * out.height * 3)
        XCTAssertTrue(seen.items.contains(Progress(stage: .denoise, step: 2, steps: 2)))
    }

    func testStreamAndCancel() async throws {
        let editor = try Editor()
        let model = try Model.demo()
        let src = try source()
        var done = false
        for try await event in editor.edits(model: model, image: src, params: EditParams(prompt: "x", steps: 2)) {
            if case .done = event { done = true }
        }
        XCTAssertTrue(done)

        let task = Task { try await editor.edit(model: model, image: src, params: EditParams(prompt: "x", steps: 50)) }
        try await Task.sleep(nanoseconds: 200_000_000)
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("cancelled edit returned")
        } catch is CancellationError {
        } catch let e as X2EditError {
            XCTAssertTrue(e.isCancelled)
        }
    }

    func testMisuse() throws {
        XCTAssertThrowsError(try Image(width: 4, height: 4, format: .rgb8, pixels: Data(count: 3))) { e in
            XCTAssertEqual((e as? X2EditError)?.code, .invalidArgument)
        }
        XCTAssertThrowsError(try Model.files(directory: URL(fileURLWithPath: "/nonexistent"))) { e in
            XCTAssertEqual((e as? X2EditError)?.code, .io)
        }
        XCTAssertEqual(X2Edit.Editor.apiVersion >> 16, 1)
    }
}

final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [Progress] = []
    func append(_ p: Progress) { lock.lock(); list.append(p); lock.unlock() }
    var items: [Progress] { lock.lock(); defer { lock.unlock() }; return list }
}
