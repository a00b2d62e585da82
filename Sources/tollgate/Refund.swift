import ArgumentParser
import Foundation
import TollgateConfiguration
import TollgateCore

/// `tollgate refund`: give back what a flow cost, straight in the gateway's store (the admin API's
/// `POST /admin/refunds` does the same over HTTP).
struct RefundCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refund",
        abstract: "Refund a flow, list refunds, or close a pending payout.",
        subcommands: [Create.self, List.self, Close.self], defaultSubcommand: Create.self)

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Refund (part of) a flow: package units are credited back at once; a payment becomes pending_payout.")

        @Argument(help: "The correlation id of the paid flow (Tollgate-Correlation-Id).")
        var correlationId: String

        @Option(help: "How much: a decimal in the paid asset (0.005) for a payment, a whole number of units for a package spend. Default: all that is left.")
        var amount: String?

        @Option(help: "Why (kept in the refund record and the audit log).")
        var reason: String

        @Option(name: .shortAndLong, help: "The gateway's configuration file (to find its store).")
        var config: String

        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() async throws {
            let configuration = try ConfigurationFile.load(config)
            let store = try await ConfigurationFile.openStore(configuration)
            let atomic = try await RefundAmount.atomic(amount, correlationId: correlationId, store: store, assets: configuration.assets)
            do {
                let refund = try await store.refund(RefundRequest(correlationId: correlationId, amount: atomic, reason: reason, actor: SupportStoreOptions.defaultActor),
                                                    nowMillis: SystemClock().nowMillis())
                print(json ? RefundText.json(refund) : RefundText.line(refund, assets: configuration.assets))
            } catch let error as TollgateError {
                Console.error("refund refused: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List refunds, newest first (the payout process reads --state pending).")

        @Option(help: "pending (= pending_payout), paid or credited.")
        var state: String?

        @Option(help: "Only the refunds of this flow.")
        var correlationId: String?

        @Option(help: "table, json or jsonl.")
        var format = "table"

        @Option(help: "At most this many.")
        var limit = 1000

        @Option(name: .shortAndLong, help: "The gateway's configuration file (to find its store).")
        var config: String

        func run() async throws {
            let wanted: Refund.State?
            switch state {
            case nil: wanted = nil
            case "pending": wanted = .pendingPayout
            case let text?:
                guard let parsed = Refund.State(rawValue: text) else {
                    throw ValidationError("--state must be pending, pending_payout, paid or credited")
                }
                wanted = parsed
            }
            guard ["table", "json", "jsonl"].contains(format) else { throw ValidationError("--format must be table, json or jsonl") }
            let configuration = try ConfigurationFile.load(config)
            let refunds = try await ConfigurationFile.openStore(configuration, requireKeys: false).refunds(state: wanted, correlationId: correlationId, limit: limit)
            switch format {
            case "json": print(RefundText.json(refunds))
            case "jsonl": for refund in refunds { print(RefundText.json(refund, pretty: false)) }
            default:
                if refunds.isEmpty { print("no refunds") }
                for refund in refunds { print(RefundText.line(refund, assets: configuration.assets)) }
            }
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record the payout of a pending refund (its transaction id).")

        @Argument(help: "The refund id (rf_…).")
        var id: String

        @Option(help: "The payout transaction hash (0x + 64 hex).")
        var tx: String

        @Flag(help: "The transaction pays several refunds at once (without it, one that already closes another refund is refused).")
        var batch = false

        @Option(name: .shortAndLong, help: "The gateway's configuration file (to find its store).")
        var config: String

        func run() async throws {
            let configuration = try ConfigurationFile.load(config)
            do {
                let refund = try await ConfigurationFile.openStore(configuration).closeRefund(
                    id: id, payoutTransaction: tx, batch: batch, actor: SupportStoreOptions.defaultActor, nowMillis: SystemClock().nowMillis())
                print(RefundText.line(refund, assets: configuration.assets))
            } catch let error as TollgateError {
                Console.error("close refused: \(error)")
                throw ExitCode(1)
            }
        }
    }
}

enum RefundAmount {
    /// The amount in the ledger's terms: atomic units of the paid asset, or a count of package units.
    static func atomic(_ text: String?, correlationId: String, store: any GatewayStore, assets: [Asset]) async throws -> TokenAmount? {
        guard let text else { return nil }
        if let payment = try await store.payments(correlationId: correlationId).first {
            // A decimal means nothing without the asset's decimals: read as atomic units it would refund a millionth of what was meant.
            guard let decimals = assets.first(where: { $0.network == payment.network && $0.address.lowercased() == payment.asset })?.decimals else {
                throw ValidationError("the paid asset \(payment.asset) on \(payment.network) is not in the configuration, so --amount cannot be read in "
                                      + "its units; add the asset to the configuration, or leave --amount out to refund all that is left")
            }
            guard let amount = TokenAmount(decimal: text, decimals: decimals), !amount.isZero else {
                throw ValidationError("--amount must be a positive decimal with at most \(decimals) decimals (the paid asset's units)")
            }
            return amount
        }
        guard let units = Int(text), units > 0 else { throw ValidationError("--amount must be a positive whole number of units") }
        return TokenAmount(atomic: String(units))
    }
}

/// An atomic amount for people: a decimal in the configured asset's units with its id, or the atomic
/// figure and address when the asset is not configured (any more).
enum AssetAmount {
    static func text(atomic: String, asset address: String, network: String? = nil, assets: [Asset]) -> String {
        guard let asset = assets.first(where: { $0.address.lowercased() == address && (network == nil || $0.network == network) }) else {
            return "\(atomic) (atomic) \(address)"
        }
        return "\(TokenAmount(atomic: atomic)?.decimalString(decimals: asset.decimals) ?? atomic) \(asset.id)"
    }
}

enum RefundText {
    static func line(_ refund: Refund, assets: [Asset]) -> String {
        let amount: String
        if refund.kind == .packageCredit {
            amount = "\(refund.amount) \(refund.unit) units"
        } else {
            amount = AssetAmount.text(atomic: refund.amount, asset: refund.asset, network: refund.network, assets: assets)
        }
        var text = "\(refund.id)  \(refund.state.rawValue)  \(amount)  flow \(refund.correlationId)"
        if !refund.payer.isEmpty { text += "  payer \(refund.payer)" }
        text += "  \(refund.automatic ? "automatic" : refund.actor): \(refund.reason)"
        if let transaction = refund.payoutTransaction { text += "  payout \(transaction)" }
        return text
    }

    static func json(_ value: some Encodable, pretty: Bool = true) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
