import Foundation
import Testing

/// The tests run in one process, and several start programs (stdio MCP servers, interop clients). Changing the
/// process's environment while another thread starts a program races the C library's copy of `environ`: CI crashed in
/// `Process.run` that way. Code that needs a variable takes an `environment` dictionary instead.
@Suite struct ProcessEnvironmentTests {
    @Test func noCodeChangesTheProcessEnvironment() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
        let this = URL(fileURLWithPath: #filePath).lastPathComponent
        var scanned = 0, offenders: [String] = []
        for folder in ["Sources", "Tests", "examples"] {
            let base = root.appendingPathComponent(folder)
            let files = (FileManager.default.enumerator(atPath: base.path)?.compactMap { $0 as? String } ?? [])
                .filter { $0.hasSuffix(".swift") && !$0.hasSuffix(this) && !$0.contains(".build") }
            for file in files {
                let code = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
                scanned += 1
                for call in ["setenv(", "unsetenv(", "putenv(", "clearenv("] where code.contains(call) {
                    offenders.append("\(folder)/\(file) calls \(call)…)")
                }
            }
        }
        #expect(scanned > 200)
        #expect(offenders.isEmpty, "\(offenders)")
    }
}
