import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TollgateCore
import TollgateHTTP
import TollgateSQLite
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway: a reverse proxy that charges for routes (x402 v2).")

    @Option(name: .shortAndLong, help: "The configuration file (YAML).")
    var config: String

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger("tollgate.serve")
        let loaded = try ConfigurationFile.load(config)
        let keys = try ConfigurationFile.keys(loaded)
        let store = try ConfigurationFile.openStore(loaded)
        let server = GatewayServer(configuration: loaded, keys: keys, store: store, logger: logger) { port in
            logger.info("gateway listening", metadata: ["tollgate.listen": "\(loaded.listen.host):\(port)", "tollgate.upstream": "\(loaded.upstreamURL)"])
        }
        let group = ServiceGroup(configuration: .init(
            services: server.services.map { .init(service: $0) } + [.init(service: server.application)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Loading a configuration the same way for every command: every problem on stderr, exit code 2.
enum ConfigurationFile {
    static func load(_ path: String) throws -> GatewayConfiguration {
        do {
            let (configuration, warnings) = try ConfigurationLoader.load(path: path)
            for warning in warnings { FileHandle.standardError.write(Data("\(path): \(warning)\n".utf8)) }
            return configuration
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
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

    static func openStore(_ configuration: GatewayConfiguration) throws -> SQLiteStore {
        do {
            return try SQLiteStore(path: configuration.sqlitePath)
        } catch {
            FileHandle.standardError.write(Data("cannot open the store at \(configuration.sqlitePath): \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
