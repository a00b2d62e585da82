import ArgumentParser
import Foundation
import Hummingbird
import Logging
import TollgateCore
import TollgateHTTP
import TollgateSQLite

/// A small priced API: an ordinary Hummingbird 2 application whose routes sit behind `TollgateMiddleware`.
/// Prices, clients and the facilitator come from a Tollgate configuration (`tollgate.yaml` beside this example);
/// the handlers are plain Hummingbird handlers that read who paid from their context.
@main
struct HummingbirdPaidAPI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A priced Hummingbird API behind Tollgate's middleware (x402 v2).")

    @Option(name: .shortAndLong, help: "The Tollgate configuration (YAML): routes, prices, clients, facilitators, storage.")
    var config: String

    @Option(help: "Listen on this port instead of the configuration's (0 picks a free one; the bound port is printed).")
    var port: Int?

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .info

    func run() async throws {
        var logger = Logger(label: "hummingbird-paid-api")
        logger.logLevel = logLevel
        let (configuration, warnings) = try ConfigurationLoader.load(path: config)
        for warning in warnings { logger.warning("\(config): \(warning)") }
        let keys = try SecretResolver.keyRing(configuration.secrets)
        let store = try SQLiteStores.open(path: configuration.sqlitePath, auditKeys: keys.auditKeys(), durable: configuration.durableStorage)
        // Revocations and incident switches apply from the first request.
        let assembly = GatewayAssembly(configuration: configuration, keys: keys,
                                       contractKeys: try SecretResolver.contractKeys(configuration, offerKeys: keys), store: store,
                                       logger: logger, initialControls: try await store.loadControls())

        let router = Router(context: TollgateRequestContext.self)
        router.add(middleware: TollgateMiddleware(assembly: assembly))
        PaidRoutes.add(to: router)

        let listen = configuration.listen
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(listen.host, port: port ?? listen.port), serverName: "hummingbird-paid-api"),
            // The audit batcher, the facilitator check and the reconciler run beside the server.
            services: assembly.services,
            onServerRunning: { channel in
                // One line on stdout, so a script started with `--port 0` learns where to connect.
                FileHandle.standardOutput.write(Data("listening on \(listen.host):\(channel.localAddress?.port ?? 0)\n".utf8))
            },
            logger: logger)
        try await app.runService()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
