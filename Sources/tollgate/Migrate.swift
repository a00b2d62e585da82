import ArgumentParser
import Foundation
import Logging
import TollgateConfiguration
import TollgateCore
import TollgatePostgres

/// `tollgate migrate`: applies the PostgreSQL store's versioned migrations (`storage.postgres`) and prints the
/// versions applied. Safe while other instances migrate too (one advisory lock). The SQLite store migrates itself
/// when it opens, so a SQLite configuration has nothing to do here.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the PostgreSQL store's migrations (storage.postgres) and print the versions applied.")

    @Option(name: .shortAndLong, help: "The gateway's configuration file.")
    var config: String

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger("tollgate.migrate")
        let loaded = try ConfigurationFile.load(config)
        guard let postgres = loaded.postgres else {
            print("storage is SQLite (\(loaded.sqlitePath)): it applies its migrations when it opens; nothing to do")
            return
        }
        let applied: [String]
        do {
            let client = try PostgresClients.make(postgres, logger: logger)
            applied = try await PostgresClients.withRunning(client) { client in
                try await PostgresMigrator.migrate(client: client, logger: logger)
            }
        } catch {
            Console.error("cannot migrate the PostgreSQL store at \(postgres.host):\(postgres.port)/\(postgres.database): \(error)")
            throw ExitCode(2)
        }
        if applied.isEmpty {
            print("up to date: no migration applied")
        } else {
            for version in applied { print("applied \(version)") }
        }
    }
}
