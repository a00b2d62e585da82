import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TollgateConfiguration
import TollgateCore
import TollgateDevFacilitator
import TollgateHTTP
import TollgateSQLite
import TollgateX402

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the sample upstream, the dev facilitator and the gateway on loopback, pay one request, print every step.")

    @OptionGroup var logging: LoggingOptions

    @Option(help: "Keep the demo's database, configuration and secret in this directory, so `tollgate trace`, `refund`, `usage`, `dispute` and `audit` can be tried on it afterwards.")
    var keep: String?

    func run() async throws {
        var logger = logging.makeLogger("tollgate.demo")
        if logging.logLevel == "info" { logger.logLevel = .warning }
        let directory = keep.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-demo-\(UUID().uuidString)").path
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: directory) } }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ports = try (0..<3).map { _ in try FreePort.pick() }
        let (upstreamPort, facilitatorPort, gatewayPort) = (ports[0], ports[1], ports[2])

        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let secretFile = directory + "/secret"
        guard FileManager.default.createFile(atPath: secretFile, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(secretFile)")
        }
        let yaml = DemoConfiguration.yaml(gateway: gatewayPort, upstream: upstreamPort, facilitator: facilitatorPort, directory: directory)
        try yaml.write(toFile: directory + "/tollgate.yaml", atomically: true, encoding: .utf8)
        let (configuration, _) = try ConfigurationLoader.parse(yaml, file: "demo")
        let keys = try SecretResolver.keyRing(configuration.secrets)
        let store = try SQLiteStores.open(path: configuration.sqlitePath, auditKeys: keys.auditKeys())

        let upstream = Application(router: SampleUpstream.router(contract: ContractVerifier(keys: keys.contractKeys())),
                                   configuration: .init(address: .hostname("127.0.0.1", port: upstreamPort)), logger: logger)
        let devFacilitator = try DevFacilitator(networks: [DemoConfiguration.network.id], ledger: try DevLedger(path: directory + "/facilitator.sqlite"))
        let facilitator = Application(router: DevFacilitatorServer.router(devFacilitator, logger: logger),
                                      configuration: .init(address: .hostname("127.0.0.1", port: facilitatorPort)), logger: logger)
        let gateway = GatewayAssembly(configuration: configuration, keys: keys, store: store, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: upstream), .init(service: facilitator)] + gateway.services.map { .init(service: $0) }
                + [.init(service: gateway.proxyApplication(logger: logger))],
            logger: logger))

        let script = DemoScript(gatewayURL: "http://127.0.0.1:\(gatewayPort)", facilitatorPool: gateway.facilitators, store: store,
                                walletPath: directory + "/wallet.sqlite", logger: logger)
        let outcome = try await withThrowingTaskGroup(of: Bool?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            tasks.addTask {
                defer { Task { await group.triggerGracefulShutdown() } }
                return try await script.run()
            }
            var result = false
            for try await value in tasks { if let value { result = value } }
            return result
        }
        if let keep, outcome {
            say("\nkept in \(keep): try `tollgate trace -c \(keep)/tollgate.yaml <correlation id>`, `tollgate usage -c \(keep)/tollgate.yaml --client analyst`")
        }
        if !outcome { throw ExitCode.failure }
    }
}

enum DemoConfiguration {
    /// The demo's test net and its USDC (`KnownAsset` lists it).
    static let network = KnownNetwork.baseSepolia
    static let usdc = KnownAsset.usdc(on: network)!

    static func yaml(gateway: Int, upstream: Int, facilitator: Int, directory: String) -> String {
        """
        listen: 127.0.0.1:\(gateway)
        public_url: http://127.0.0.1:\(gateway)
        upstream:
          url: http://127.0.0.1:\(upstream)
        secrets:
          - id: demo
            file: \(directory)/secret
        storage:
          sqlite: \(directory)/gateway.sqlite
          audit_flush_ms: 50
        facilitators:
          - url: http://127.0.0.1:\(facilitator)
            networks: [\(network.id)]
        assets:
          - id: usdc-base-sepolia
            network: \(network.id)
            address: "\(usdc.address)"
            decimals: \(usdc.decimals)
            eip712_name: \(usdc.eip712Name)
            eip712_version: "\(usdc.eip712Version)"
        pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
        clients:
          - id: analyst
            api_key_sha256: \(APIKeyHash.sha256Hex("tg_demo_reports_key"))
            scopes: [reports:read]
        routes:
          - method: GET
            path: /datasets/*
            resource: datasets
            description: Daily market datasets
            price: "0.01"
            accepts: [usdc-base-sepolia]
            anonymous: true
          - method: GET
            path: /reports/*
            resource: reports
            price: "0.01"
            accepts: [usdc-base-sepolia]
            scope: reports:read
          - method: GET
            path: /records
            resource: records
            description: Market records, priced per record
            price: "0.0001"
            accepts: [usdc-base-sepolia]
            unit: record
            quantity: {query: limit, max: 250, default: 100}
            measure: {json_array: records}
            anonymous: true
          - method: GET
            path: /search
            resource: search
            description: Symbol search, sold in packages of 100
            price: "0.50"
            accepts: [usdc-base-sepolia]
            package: {units: 100, name: search-credits}
            scope: reports:read
          - method: GET
            path: /health
            resource: health
            anonymous: true
        """
    }
}

/// Picks a free loopback port by binding port 0 and releasing it.
enum FreePort {
    static func pick() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ExitCode.failure }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw ExitCode.failure }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
