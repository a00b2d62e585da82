import Foundation
import Testing

/// What the CLI does with `storage.postgres`: the store commands open it, and an unreachable database is a clear exit 2.
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

    @Test func aStoreCommandOnAnUnreachableDatabaseExits2NamingIt() async throws {
        let path = try Self.configuration("postgres: {host: 127.0.0.1, port: 1, user: tollgate, database: gateway, timeout_seconds: 1}")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = await CommandRun.tollgate("refund", "list", "--config", path)
        #expect(run.status == 2)
        #expect(run.error.contains("cannot open the PostgreSQL store at 127.0.0.1:1/gateway"), "\(run.error)")
        #expect(run.error.contains("store_unavailable") || run.error.contains("could not be reached"), "\(run.error)")
    }

    @Test func aStoreCommandReadsThePostgresStore() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["TOLLGATE_TEST_POSTGRES_URL"],
                               "TOLLGATE_TEST_POSTGRES_URL is not set: scripts/test.sh starts the test cluster (scripts/postgres-cluster.sh)")
        // A long timeout: the whole suite's PostgreSQL tests share the cluster, and migrating waits for their locks.
        let path = try Self.configuration("postgres: {url: \"\(url)\", timeout_seconds: 30, settling_grace_seconds: 180}")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = await CommandRun.tollgate("refund", "list", "--format", "json", "--config", path)
        #expect(run.status == 0, "\(run.error)")
        #expect(run.output.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("["), "\(run.output)")
    }

    @Test func migrateHasNothingToDoOnSQLite() async throws {
        let path = try Self.configuration("sqlite: /nonexistent/never-opened.sqlite")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = await CommandRun.tollgate("migrate", "--config", path)
        #expect(run.status == 0, "\(run.error)")
        #expect(run.output.contains("nothing to do"), "\(run.output)")
    }
}
