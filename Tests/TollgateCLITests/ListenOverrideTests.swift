import Foundation
import Testing

/// `--listen` and `--admin-listen` run several instances from one file; a bad address is a usage error, never a start.
@Suite struct ListenOverrideTests {
    static func configuration() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-listen-\(UUID().uuidString).yaml").path
        try """
            upstream:
              url: http://127.0.0.1:9000
            secrets:
              - {id: k1, env: TOLLGATE_CLI_TEST_UNSET_SECRET}
            routes: []
            admin:
              listen: 127.0.0.1:8409
              token: {env: TOLLGATE_CLI_TEST_UNSET_TOKEN}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: [["--listen", "nowhere"], ["--listen", "127.0.0.1:99999"], ["--admin-listen", "127.0.0.1"]])
    func aMalformedAddressIsAUsageError(_ arguments: [String]) async throws {
        let path = try Self.configuration()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = await CommandRun.tollgate(["serve", "--config", path] + arguments)
        #expect(run.status == 64, "\(run.error)")
        #expect(run.error.contains("must be HOST:PORT"), "\(run.error)")
    }

    @Test func theAdminAPIStaysOnLoopbackUnlessAllowed() async throws {
        let path = try Self.configuration()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = await CommandRun.tollgate("serve", "--config", path, "--admin-listen", "0.0.0.0:8419")
        #expect(run.status == 64, "\(run.error)")
        #expect(run.error.contains("not a loopback address"), "\(run.error)")
    }
}
