import ArgumentParser
import Hummingbird
import Logging
import ServiceLifecycle
import TollgateDevFacilitator
import TollgateConfiguration
import TollgateCore
import TollgateHTTP
import TollgateX402

struct Facilitator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the development facilitator (test networks only): verifies like the gateway, settles into a local ledger.")

    @Flag(help: "Required: this is the development facilitator, never for real money.")
    var dev = false

    @Option(help: "Address to listen on.")
    var listen = "127.0.0.1:8404"

    @Option(help: "The ledger database.")
    var db = ".tollgate/dev-facilitator.sqlite"

    @Option(help: "A test network to serve (repeatable).")
    var network: [String] = [KnownNetwork.baseSepolia.id]

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        guard dev else { throw ValidationError("only the development facilitator exists: pass --dev") }
        guard let address = GatewayConfiguration.Listen(listen) else { throw ValidationError("--listen expects host:port") }
        let logger = logging.makeLogger("tollgate.facilitator")
        let facilitator: DevFacilitator
        do {
            facilitator = try DevFacilitator(networks: network, ledger: try DevLedger(path: db))
        } catch let refused as TollgateError where refused.code == .notATestNetwork {
            throw ValidationError(refused.message)
        }
        let app = Application(
            router: DevFacilitatorServer.router(facilitator, logger: logger),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "tollgate-dev-facilitator"),
            onServerRunning: { channel in
                logger.info("development facilitator listening", metadata: [
                    "tollgate.listen": "\(address.host):\(channel.localAddress?.port ?? 0)", "tollgate.networks": "\(network)",
                ])
            },
            logger: logger)
        try await app.runService()
    }
}

struct SampleUpstreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-upstream", abstract: "Run the sample dataset API (GET /datasets/prices, /datasets/history, /reports/daily).")

    @Option(help: "Address to listen on.")
    var listen = "127.0.0.1:8403"

    @Option(name: .shortAndLong, help: "The gateway's configuration: with it, requests not signed by that gateway (contract key, body, fresh timestamp, no replay) are refused with 401.")
    var config: String?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        guard let address = GatewayConfiguration.Listen(listen) else { throw ValidationError("--listen expects host:port") }
        let logger = logging.makeLogger("tollgate.sample-upstream")
        var verifier: ContractVerifier?
        if let config {
            let loaded = try ConfigurationFile.load(config)
            verifier = ContractVerifier(keys: try ConfigurationFile.contractKeys(loaded, offerKeys: try ConfigurationFile.keys(loaded)))
        }
        let app = Application(
            router: SampleUpstream.router(contract: verifier),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "tollgate-sample-upstream"),
            onServerRunning: { channel in
                logger.info("sample upstream listening", metadata: ["tollgate.listen": "\(address.host):\(channel.localAddress?.port ?? 0)"])
            },
            logger: logger)
        try await app.runService()
    }
}
