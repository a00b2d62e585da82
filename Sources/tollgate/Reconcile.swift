import ArgumentParser
import Foundation
import Logging
import TollgateConfiguration
import TollgateCore
import TollgateHTTP

/// `tollgate reconcile`: resolves the settlements a crash, a timeout or a lost answer left in doubt, asking the
/// facilitator that was asked first (and the chain, where `settlement.rpc` names a node), then lists the
/// settled payments waiting for an operator's decision.
struct Reconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Resolve settlements in doubt (pending, unknown, left by a stopped gateway) and list those needing review.")

    @Option(name: .shortAndLong, help: "The gateway's configuration file.")
    var config: String

    @Flag(help: """
        The gateway is stopped: treat every `settling` claim as left by it (otherwise only those older than 5 minutes). \
        On PostgreSQL only claims whose lease is older than `settling_grace_seconds` are: another instance may be settling the others.
        """)
    var gatewayStopped = false

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger("tollgate.reconcile")
        let loaded = try ConfigurationFile.load(config)
        let store = try await ConfigurationFile.openStore(loaded)
        let assembly = GatewayAssembly(configuration: loaded, keys: try ConfigurationFile.keys(loaded), store: store, logger: logger)
        // One reconciler at a time across the instances sharing the store (PostgreSQL): never two asking about one claim.
        let gateway = assembly.gateway, stopped = gatewayStopped
        guard let report = try await store.exclusively(SettlementReconciler.jobName, { try await gateway.reconcileAll(startup: stopped) }) else {
            FileHandle.standardError.write(Data("a gateway instance is reconciling right now; run this again in a moment\n".utf8))
            throw ExitCode(1)
        }
        let review = try await store.settlementsForReview(limit: 1000)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            struct Output: Encodable {
                let report: ReconcileReport
                let review: [Item]
            }
            let output = Output(report: report, review: review.map(Item.init))
            print(String(decoding: try encoder.encode(output), as: UTF8.self))
            return
        }
        let lines: [(String, [String])] = [
            ("left settling by a stopped gateway, now unknown", report.abandoned), ("settled", report.settled),
            ("failed (nothing moved)", report.failed), ("still unknown", report.stillUnknown),
            ("refunded automatically (refund ids)", report.refunded), ("settled, undelivered, within the idempotency window", report.awaitingRetry),
            ("worked on by another instance now (its claim's lease is live; a later pass takes them once it lapses)", report.workedOnElsewhere),
        ]
        for (label, ids) in lines where !ids.isEmpty { print("\(label): \(ids.joined(separator: " "))") }
        if lines.allSatisfy({ $0.1.isEmpty }) { print("nothing to resolve") }
        if review.isEmpty { return }
        print("\nsettled but not delivered, no evidence for an automatic refund (decide with `tollgate refund CID` after checking the chain):")
        let rows = [["correlation id", "payer", "amount", "asset", "network", "authority"]] + review.map {
            [$0.intent.correlationId, $0.intent.key.payer, $0.intent.payment.amount, $0.intent.key.asset, $0.intent.key.network, $0.intent.attempt.authority]
        }
        for line in TextTable.lines(rows) { print(line) }
    }

    struct Item: Encodable {
        let correlationId: String
        let payer: String
        let nonce: String
        let amount: String
        let asset: String
        let network: String
        let authority: String

        init(_ open: OpenSettlement) {
            correlationId = open.intent.correlationId
            payer = open.intent.key.payer
            nonce = open.intent.key.nonce
            amount = open.intent.payment.amount
            asset = open.intent.key.asset
            network = open.intent.key.network
            authority = open.intent.attempt.authority
        }
    }
}
