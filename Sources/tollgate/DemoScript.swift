import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import TollgateClient
import TollgateCore
import TollgateX402

/// What `tollgate demo` does once everything listens: one paid request, step by step, then the
/// replay, the missing key and the trace, each checked.
struct DemoScript {
    let gatewayURL: String
    let facilitatorPool: FacilitatorPool
    let store: any GatewayStore
    /// The paying agent's ledger (`TollgateClient`), in the demo's directory.
    let walletPath: String
    let logger: Logger

    func run() async throws -> Bool {
        for _ in 0..<100 where !facilitatorPool.isReady(network: DemoConfiguration.network.id) {
            try await Task.sleep(for: .milliseconds(100))
        }
        guard facilitatorPool.isReady(network: DemoConfiguration.network.id) else {
            say("✗ the facilitator did not become ready")
            return false
        }
        let key = Secp256k1.randomPrivateKey()
        guard let payer = ExactEVMPayer(privateKey: key) else { return false }
        let client = PayingClient(client: .shared, payer: payer)
        // The paying side is the agent client library: a budget, a ledger written before anything is sent.
        let wallet = PaymentClient(http: .shared, payer: payer, ledger: try PaymentLedger(path: walletPath), budget: .standard, logger: logger)
        let url = gatewayURL + "/datasets/prices"
        var ok = true

        say("Tollgate demo: gateway \(gatewayURL), sample upstream and dev facilitator on loopback\n")
        say("1. request   GET /datasets/prices (no payment), by the agent client (TollgateClient, default budget)")
        let outcome = try await wallet.fetch(.init(url: url)) { quote in
            guard let choice = quote.choice else { return false }
            say("   ← 402 Payment Required   terms: \(choice.amount) atomic units (\(choice.price)) of \(choice.option.asset) on "
                  + "\(choice.option.network) to \(choice.option.payTo), valid \(choice.option.requirements.maxTimeoutSeconds) s, proof format x402 v2 exact")
            let day = quote.standing.first { $0.window == "per_day" }
            say("     budget: at most \(Budget.standard.overall.perPayment?.description ?? "-") a payment; \(day?.spent.description ?? "0") of "
                  + "\(day?.limit.description ?? "-") spent today: allowed")
            say("2. proof     payer \(payer.address.checksummed) signs an EIP-3009 TransferWithAuthorization (EIP-712, secp256k1); "
                  + "the ledger keeps it before it is sent")
            return true
        }
        guard let purchase = outcome.purchase else {
            say("   ✗ expected a 402 paid by the agent client, got \(outcome.response.status)")
            return false
        }
        let correlationId = purchase.correlationId ?? "?"
        say("3. retry     GET /datasets/prices with PAYMENT-SIGNATURE (\(purchase.proof.utf8.count) bytes, payment identifier \(purchase.id))")
        if outcome.response.status == 200, let receipt = outcome.receipt, receipt.success {
            say("   ← 200 OK   verified locally and by the facilitator, settled: tx \(receipt.transaction)   correlation id \(correlationId)")
            say("4. response  \(String(decoding: outcome.response.body.prefix(160), as: UTF8.self))…")
            say("   ledger    \(purchase.state.rawValue): \(purchase.price) to \(purchase.payee) (tollgate wallet ledger --ledger \(walletPath))")
        } else {
            say("   ✗ expected 200 with a receipt, got \(outcome.response.status): \(String(decoding: outcome.response.body, as: UTF8.self))")
            ok = false
        }

        // An attacker's copy: the same authorization, spelled without the payment identifier.
        var copy = HeaderCodec.decode(X402.PaymentPayload.self, header: purchase.proof)
        copy?.extensions = nil
        let signature = copy.map { HeaderCodec.encode($0) } ?? purchase.proof
        say("5. replay    the same authorization again, without its payment identifier")
        let replay = try await client.get(url, headers: [(X402.paymentSignatureHeader, signature)])
        let replayReason = replay.paymentRequired?.error ?? "-"
        say("   ← \(replay.status)   \(replayReason)")
        ok = ok && replay.status == 402 && replayReason == Reason.nonceAlreadyUsed.rawValue

        say("6. no key    GET /reports/daily without an API key")
        let unauthorized = try await client.get(gatewayURL + "/reports/daily")
        say("   ← \(unauthorized.status) (authorization comes before any price)")
        ok = ok && unauthorized.status == 401

        say("7. metering  GET /records?limit=20: priced per record, 20 × 0.0001")
        let records = try await client.get(gatewayURL + "/records?limit=20")
        let quoted = records.paymentRequired?.accepts.first?.amount ?? "-"
        say("   ← \(records.status)   quoted \(quoted) atomic units for 20 records")
        if let terms = records.paymentRequired {
            let bought = try await client.get(gatewayURL + "/records?limit=20", headers: [(X402.paymentSignatureHeader, try client.sign(terms))])
            say("   ← \(bought.status) after paying; usage recorded: \(try await usage(records.correlationId, "records"))")
            ok = ok && bought.status == 200
        }
        ok = ok && records.status == 402 && quoted == "2000"

        say("8. package   GET /search?q=ACME with the analyst's key: one payment buys 100 searches")
        let apiKey = [("X-Api-Key", "tg_demo_reports_key")]
        let search = try await client.get(gatewayURL + "/search?q=ACME", headers: apiKey)
        if search.status == 402, let terms = search.paymentRequired {
            let bought = try await client.get(gatewayURL + "/search?q=ACME", headers: apiKey + [(X402.paymentSignatureHeader, try client.sign(terms))])
            let again = try await client.get(gatewayURL + "/search?q=ACME", headers: apiKey)
            let balance = again.headers.first(name: "Tollgate-Package-Balance") ?? "-"
            say("   ← 402, then \(bought.status) paid (package bought), then \(again.status) with no payment: \(balance) left")
            ok = ok && bought.status == 200 && again.status == 200
        } else {
            say("   ✗ expected 402 for the package, got \(search.status)")
            ok = false
        }

        try await Task.sleep(for: .milliseconds(150))
        say("\n9. trace     tollgate trace \(correlationId)")
        let events = try await store.events(correlationId: correlationId)
        say(TraceReport(correlationId: correlationId, recorded: events).table())
        ok = ok && events.contains { $0.event.stage == .settle && $0.event.outcome == .ok }

        say(ok ? "\n✓ demo complete: paid once, replay refused, authorization before payment, metered, every step audited"
                 : "\n✗ demo failed")
        return ok
    }
}

extension DemoScript {
    /// The usage event recorded for a flow, as text.
    func usage(_ correlationId: String?, _ resource: String) async throws -> String {
        try await Task.sleep(for: .milliseconds(50))
        let summary = try await store.usage(clientId: nil, fromMillis: 0, toMillis: .max).first { $0.resource == resource }
        return summary.map { "\($0.quantity) \($0.unit) units" } ?? "none"
    }
}

/// Writes a line to standard output at once (print is block-buffered when stdout is a file or pipe).
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
