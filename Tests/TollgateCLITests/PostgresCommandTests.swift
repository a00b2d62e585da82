import Foundation
import Testing

/// What the CLI does with `storage.postgres` before the PostgreSQL store is complete (issue 12).
@Suite struct PostgresCommandTests {
    static func configuration(_ storage: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-pg-\(UUID().uuidString).yaml").path
        try """
            upstream:
              url: http://127.0.0.1:9000
            secrets:
              - {id: k1, env: TOLLGATE_CLI_TEST_UNSET_SECRET}
            routes: []
            storage:
              \(storage)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aCommandThatOpensTheStoreRefusesPostgresWithExit2() async throws {
        let path = try Self.configuration("postgres: {host: 127.0.0.1, user: tollgate, database: gateway}")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = await CommandRun.tollgate("reconcile", "--config", path)
        #expect(run.status == 2)
        #expect(run.error.contains("the PostgreSQL store is not complete yet: migrations only (issue 12)"), "\(run.error)")
    }

    @Test func migrateHasNothingToDoOnSQLite() async throws {
        let path = try Self.configuration("sqlite: /nonexistent/never-opened.sqlite")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = await CommandRun.tollgate("migrate", "--config", path)
        #expect(run.status == 0, "\(run.error)")
        #expect(run.output.contains("nothing to do"), "\(run.output)")
    }
}
