import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import TollgateCore
import TollgateX402

/// What `tollgate demo` does once everything listens: one paid request, step by step, then the
/// replay, the missing key and the trace, each checked.
struct DemoScript {
    let gatewayURL: String
    let facilitatorPool: FacilitatorPool
    let store: any GatewayStore
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
        let url = gatewayURL + "/datasets/prices"
        var ok = true

        say("Tollgate demo: gateway \(gatewayURL), sample upstream and dev facilitator on loopback\n")
        say("1. request   GET /datasets/prices (no payment)")
        let first = try await client.get(url)
        guard first.status == 402, let terms = first.paymentRequired, let offer = terms.accepts.first else {
            say("   ✗ expected 402 with PAYMENT-REQUIRED, got \(first.status)")
            return false
        }
        let correlationId = first.correlationId ?? "?"
        say("   ← 402 Payment Required   correlation id \(correlationId)")
        say("     terms: \(offer.amount) atomic units of \(offer.asset) on \(offer.network) to \(offer.payTo), "
              + "valid \(offer.maxTimeoutSeconds) s, proof format x402 v2 exact")

        say("2. proof     payer \(payer.address.checksummed) signs an EIP-3009 TransferWithAuthorization (EIP-712, secp256k1)")
        let signature = try client.sign(terms)

        say("3. retry     GET /datasets/prices with PAYMENT-SIGNATURE (\(signature.utf8.count) bytes)")
        let paid = try await client.get(url, headers: [(X402.paymentSignatureHeader, signature)])
        if paid.status == 200, let receipt = paid.paymentResponse, receipt.success {
            say("   ← 200 OK   verified locally and by the facilitator, settled: tx \(receipt.transaction)")
            say("4. response  \(paid.body.prefix(160))…")
        } else {
            say("   ✗ expected 200 with a receipt, got \(paid.status): \(paid.body)")
            ok = false
        }

        say("5. replay    the same PAYMENT-SIGNATURE again")
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
