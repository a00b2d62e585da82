import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TollgateAdmin
import TollgateConfiguration
import TollgateCore
import TollgateHTTP
import TollgatePostgres
import TollgateSQLite
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway: a reverse proxy that charges for routes (x402 v2).")

    @Option(name: .shortAndLong, help: "The configuration file (YAML).")
    var config: String

    @OptionGroup var overrides: ListenOverrides

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let loaded = try overrides.apply(to: ConfigurationFile.load(config))
        if loaded.mcp != nil {
            Console.error("\(config): has an mcp: section; run it with `tollgate mcp --config \(config)`")
            throw ExitCode(2)
        }
        try await Self.run(loaded, logger: logging.makeLogger("tollgate.serve"), name: "gateway")
    }

    /// Runs a gateway (the reverse proxy, or the MCP endpoint for a configuration with `mcp:`), its admin listener
    /// and everything beside them until SIGTERM or SIGINT.
    static func run(_ loaded: GatewayConfiguration, logger: Logger, name: String) async throws {
        let keys = try ConfigurationFile.keys(loaded)
        let store = try await ConfigurationFile.openStore(loaded, logger: logger)
        let adminToken = try loaded.admin.map { try ConfigurationFile.adminToken($0) }
        // Revocations and incidents apply from the first request: no serving before they are loaded.
        let controls = try await ConfigurationFile.controls(store)
        let tokens = try await ConfigurationFile.tokens(loaded)
        let upstream = loaded.upstreamShown
        let server = GatewayServer(
            configuration: loaded, keys: keys, contractKeys: try ConfigurationFile.contractKeys(loaded, offerKeys: keys), store: store, logger: logger, initialControls: controls, adminToken: adminToken, tokens: tokens,
            onServerRunning: { port in
                logger.info("\(name) listening", metadata: ["tollgate.listen": "\(loaded.listen.host):\(port)", "tollgate.upstream": "\(upstream)"])
            },
            onAdminRunning: { port in
                logger.info("admin API listening", metadata: ["tollgate.admin.listen": "\(loaded.admin?.listen.host ?? ""):\(port)"])
            })
        var services = server.services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        services.append(.init(service: server.application))
        if let admin = server.adminApplication { services.append(.init(service: admin)) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Loading a configuration the same way for every command: every problem on stderr, exit code 2.
enum ConfigurationFile {
    static func load(_ path: String) throws -> GatewayConfiguration {
        do {
            let (configuration, warnings) = try ConfigurationLoader.load(path: path)
            for warning in warnings { Console.error("\(path): \(warning)") }
            return configuration
        } catch {
            Console.error("\(error)")
            throw ExitCode(2)
        }
    }

    /// The JWT verifier, when `jwt` is configured: its key files must be readable and valid.
    static func tokens(_ configuration: GatewayConfiguration) async throws -> (any TokenVerifier)? {
        guard let settings = configuration.jwt else { return nil }
        do {
            let jwks = try settings.jwksFile.map { try String(contentsOfFile: $0, encoding: .utf8) }
            let pem = try settings.pemFile.map { try String(contentsOfFile: $0, encoding: .utf8) }
            return JWTIdentity(keys: try await JWTIdentity.keys(jwks: jwks, pem: pem), issuer: settings.issuer, audience: settings.audience)
        } catch {
            FileHandle.standardError.write(Data("jwt: cannot load the keys: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    static func keys(_ configuration: GatewayConfiguration) throws -> KeyRing {
        do {
            return try SecretResolver.keyRing(configuration.secrets)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    static func contractKeys(_ configuration: GatewayConfiguration, offerKeys: KeyRing) throws -> KeyRing {
        do {
            return try SecretResolver.contractKeys(configuration, offerKeys: offerKeys)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    static func adminToken(_ admin: AdminConfiguration) throws -> [UInt8] {
        do {
            return try SecretResolver.adminToken(admin.token)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    static func controls(_ store: any GatewayStore) async throws -> ControlsSnapshot {
        do {
            return try await store.loadControls()
        } catch {
            FileHandle.standardError.write(Data("cannot read operator controls from the store: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// The store, chaining audit events with the keys derived from the configured secrets. A command that
    /// only reads (`requireKeys: false`) opens it without them when the secrets are not available here.
    static func openStore(_ configuration: GatewayConfiguration, requireKeys: Bool = true, logger: Logger = Logger(label: "tollgate.store"))
        async throws -> any GatewayStore {
        var auditKeys: KeyRing?
        do {
            auditKeys = try SecretResolver.keyRing(configuration.secrets).auditKeys()
        } catch {
            if requireKeys {
                FileHandle.standardError.write(Data("the audit log is chained with a key derived from the gateway's secrets, so this command needs them: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        if let postgres = configuration.postgres {
            do {
                return try await PostgresStores.open(postgres, auditKeys: auditKeys, logger: logger)
            } catch {
                Console.error("cannot open the PostgreSQL store at \(postgres.host):\(postgres.port)/\(postgres.database): \(error)")
                throw ExitCode(2)
            }
        }
        do {
            return try SQLiteStores.open(path: configuration.sqlitePath, auditKeys: auditKeys, durable: configuration.durableStorage)
        } catch {
            FileHandle.standardError.write(Data("cannot open the store at \(configuration.sqlitePath): \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
