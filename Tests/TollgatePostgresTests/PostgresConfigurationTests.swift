import Foundation
import Testing
import TollgateConfiguration
import TollgateCore

@Suite("storage.postgres configuration")
struct PostgresConfigurationTests {
    static func yaml(_ storage: String) -> String {
        """
        upstream:
          url: http://127.0.0.1:9000
        secrets:
          - {id: k1, env: TOLLGATE_TEST_SECRET}
        routes: []
        storage:
        \(storage)
        """
    }

    static func parse(_ storage: String) throws -> GatewayConfiguration {
        try ConfigurationLoader.parse(yaml(storage)).0
    }

    @Test func sqliteStaysTheDefault() throws {
        let configuration = try ConfigurationLoader.parse(Self.yaml("  sqlite: .tollgate/x.sqlite")).0
        #expect(configuration.postgres == nil)
    }

    @Test(arguments: ["127.0.0.1", "localhost", "127.0.0.2", "::1"])
    func tlsIsOffForALoopbackHost(_ host: String) throws {
        let configuration = try Self.parse("""
              postgres: {host: "\(host)", user: tollgate, database: gateway}
            """)
        #expect(configuration.postgres?.tls == .disable)
        #expect(configuration.postgres?.port == 5432)
    }

    @Test func tlsIsRequiredForAnyOtherHostUnlessTurnedOff() throws {
        let remote = try Self.parse("  postgres: {host: db.example.com, user: tollgate, database: gateway}")
        #expect(remote.postgres?.tls == .require)
        let off = try Self.parse("  postgres: {host: db.example.com, user: tollgate, database: gateway, tls: disable}")
        #expect(off.postgres?.tls == .disable)
        let url = try Self.parse("  postgres: {url: \"postgres://tollgate@db.example.com:6543/gateway\", pool_size: 3}")
        #expect(url.postgres == PostgresStoreConfiguration(host: "db.example.com", port: 6543, user: "tollgate", database: "gateway",
                                                           tls: .require, poolSize: 3))
    }

    @Test func thePasswordComesFromTheEnvironmentOrAFile() throws {
        let fromEnv = try Self.parse("  postgres: {host: 127.0.0.1, user: u, database: d, password_env: PG_SECRET}")
        #expect(try fromEnv.postgres?.resolvePassword(environment: ["PG_SECRET": "s3cret"]) == "s3cret")
        #expect(throws: TollgateError.self) { try fromEnv.postgres?.resolvePassword(environment: [:]) }

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pg-\(UUID().uuidString)").path
        try "from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let fromFile = try Self.parse("  postgres: {host: 127.0.0.1, user: u, database: d, password_file: \"\(file)\"}")
        #expect(try fromFile.postgres?.resolvePassword(environment: [:]) == "from-file")

        let none = try Self.parse("  postgres: {host: 127.0.0.1, user: u, database: d}")
        #expect(try none.postgres?.resolvePassword(environment: [:]) == nil)
    }

    @Test func sharedStoreKeysAndTheirDefaults() throws {
        let defaults = try #require(try Self.parse("  postgres: {host: db.internal, user: u, database: d}").postgres)
        #expect(defaults.migrateOnStart && defaults.operationTimeoutSeconds == 5 && defaults.settlingGraceSeconds == 120)
        let set = try #require(try Self.parse(
            #"  postgres: {url: "postgres://u@127.0.0.1/d", migrate_on_start: false, timeout_seconds: 2, settling_grace_seconds: 300}"#).postgres)
        #expect(!set.migrateOnStart && set.operationTimeoutSeconds == 2 && set.settlingGraceSeconds == 300)
        #expect(throws: ConfigurationError.self) { try Self.parse("  postgres: {host: h, user: u, database: d, timeout_seconds: 0}") }
    }

    /// A claim's owner renews its lease every third of the grace, and a renewal may wait `timeout_seconds` for the
    /// database: a grace under six times that is warned of with the figure to use; 0 (every copy takes over at once)
    /// is refused. A slow upstream no longer needs a longer grace: its claim is renewed while it runs.
    @Test func aGraceARenewalCouldOutlastIsWarnedOf() throws {
        let paid = """
            upstream: {url: "http://127.0.0.1:9000", timeout_seconds: 300}
            secrets: [{id: k1, env: TOLLGATE_TEST_SECRET}]
            facilitators: [{url: "http://127.0.0.1:2", networks: ["eip155:84532"], timeout_seconds: 10}]
            assets: [{id: u, network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", eip712_name: USDC, eip712_version: "2"}]
            pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
            routes: [{path: /a, resource: a, price: "1", anonymous: true}]
            storage:

            """
        let (_, defaults) = try ConfigurationLoader.parse(paid + "  postgres: {host: 127.0.0.1, user: u, database: d}")
        #expect(!defaults.contains { $0.path == "storage.postgres.settling_grace_seconds" })
        let (_, short) = try ConfigurationLoader.parse(paid + "  postgres: {host: 127.0.0.1, user: u, database: d, timeout_seconds: 30, settling_grace_seconds: 120}")
        #expect(short.contains { $0.path == "storage.postgres.settling_grace_seconds" && $0.message.contains("at least 180") })
        let (_, enough) = try ConfigurationLoader.parse(paid + "  postgres: {host: 127.0.0.1, user: u, database: d, timeout_seconds: 30, settling_grace_seconds: 180}")
        #expect(!enough.contains { $0.path == "storage.postgres.settling_grace_seconds" })
        #expect(throws: ConfigurationError.self) { try Self.parse("  postgres: {host: h, user: u, database: d, settling_grace_seconds: 0}") }
    }

    @Test func aSharedInvalidBudgetNeedsPostgres() throws {
        let shared = "limits: {invalid: {rate_per_second: 1, burst: 5}, shared_invalid: true}\n"
        let onPostgres = try ConfigurationLoader.parse(shared + Self.yaml("  postgres: {host: 127.0.0.1, user: u, database: d}")).0
        #expect(onPostgres.limits.sharedInvalid)
        do {
            _ = try ConfigurationLoader.parse(shared + Self.yaml("  sqlite: .tollgate/x.sqlite"))
            Issue.record("expected an error")
        } catch {
            #expect(error.issues.contains { $0.path == "limits.shared_invalid" && $0.message.contains("storage.postgres") })
        }
        do {
            _ = try ConfigurationLoader.parse("limits: {invalid: off, shared_invalid: true}\n" + Self.yaml("  postgres: {host: 127.0.0.1, user: u, database: d}"))
            Issue.record("expected an error")
        } catch {
            #expect(error.issues.contains { $0.path == "limits.shared_invalid" && $0.message.contains("limits.invalid") })
        }
    }

    @Test func sqliteAndPostgresTogetherIsAnError() throws {
        let text = Self.yaml("""
              sqlite: .tollgate/x.sqlite
              postgres: {host: 127.0.0.1, user: u, database: d}
            """)
        do {
            _ = try ConfigurationLoader.parse(text)
            Issue.record("expected an error")
        } catch {
            let issue = try #require(error.issues.first { $0.path == "storage.postgres" })
            #expect(issue.line == 8)
            #expect(issue.message.contains("choose one"))
        }
    }

    @Test func badValuesAreReportedWithTheirLine() throws {
        for (storage, path) in [("  postgres: {host: 127.0.0.1, user: u, database: d, tls: maybe}", "storage.postgres.tls"),
                                ("  postgres: {url: \"mysql://u@h/d\"}", "storage.postgres.url"),
                                ("  postgres: {host: 127.0.0.1, database: d}", "storage.postgres.user"),
                                ("  postgres: {url: \"postgres://u@h/d\", host: h}", "storage.postgres.host")] {
            do {
                _ = try Self.parse(storage)
                Issue.record("expected an error for \(storage)")
            } catch let error as ConfigurationError {
                let issue = error.issues.first { $0.path == path }
                #expect(issue != nil, "\(storage): \(error.issues)")
                #expect(issue?.line == 7)
            }
        }
    }
}
