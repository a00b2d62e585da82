import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import Synchronization
import TollgateCore
import TollgateX402
@testable import TollgateClient

/// A clock a test moves by hand: every decision of the client reads it, so no test waits for time to pass and none
/// depends on how long a step took.
final class ManualClock: Sendable {
    private let millis: Mutex<Int64>

    init(_ start: Int64 = PaymentClient.systemMillis()) { millis = Mutex(start) }

    var nowMillis: Int64 { millis.withLock { $0 } }
    var nowSeconds: Int64 { nowMillis / 1000 }

    /// Sets the clock to `seconds` (Unix time).
    func set(seconds: Int64) { millis.withLock { $0 = seconds * 1000 } }
}

/// What an x402 server says, as the scripted servers of these tests say it.
enum X402Fixture {
    /// Authorizations of these terms live 60 s, the gateway's default `max_timeout_seconds`.
    static let validitySeconds: Int64 = 60

    static func required(error: String? = nil) -> X402.PaymentRequired {
        X402.PaymentRequired(error: error, resource: .init(url: "http://api.example/data"), accepts: [
            X402.PaymentRequirements(scheme: "exact", network: "eip155:84532", asset: BudgetTests.usdc, amount: "10000", payTo: BudgetTests.payee,
                                     maxTimeoutSeconds: Int(validitySeconds), extra: ["name": .string("USDC"), "version": .string("2")]),
        ])
    }

    /// A 402 with fresh terms: the server holds no payment for what it was shown.
    static func paymentRequired(error: String? = nil) -> ScriptedServer.Reply {
        .answer(status: 402, headers: [(X402.paymentRequiredHeader, HeaderCodec.encode(required(error: error)))], body: "{}")
    }

    /// The x402 Python server's answer when its settlement failed or threw: a 402 with only a failed receipt.
    static func settlementFailed(_ reason: String) -> ScriptedServer.Reply {
        let receipt = X402.SettleResponse(success: false, errorReason: reason, payer: nil, transaction: "", network: "eip155:84532")
        return .answer(status: 402, headers: [(X402.paymentResponseHeader, HeaderCodec.encode(receipt))], body: "{}")
    }

    /// The gateway's answer while a settlement is open: send the same proof again later, do not pay again.
    static let inProgress: ScriptedServer.Reply = .answer(
        status: 503, headers: [("Retry-After", "0"), ("Content-Type", "application/json")],
        body: #"{"error":"payment_in_progress","detail":"send the same proof again later, do not pay again"}"#)

    /// The paid answer, with its receipt.
    static func delivered(_ body: String = #"{"prices":[1,2,3]}"#) -> ScriptedServer.Reply {
        let receipt = X402.SettleResponse(success: true, payer: ProofSignerTests.payer.address.checksummed, transaction: "0x" + String(repeating: "ab", count: 32),
                                          network: "eip155:84532")
        return .answer(status: 200, headers: [(X402.paymentResponseHeader, HeaderCodec.encode(receipt)), ("Content-Type", "application/json")], body: body)
    }

    /// The nonce of the authorization a request carries (`PAYMENT-SIGNATURE`); nil for an unpaid request.
    static func nonce(_ request: ScriptedServer.Request) -> String? {
        request.headers.first(name: X402.paymentSignatureHeader)
            .flatMap { HeaderCodec.decode(X402.PaymentPayload.self, header: $0) }?.payload.authorization.nonce
    }

    /// Distinct authorizations the server was shown, in the order it first saw them.
    static func nonces(_ server: ScriptedServer) -> [String] {
        var seen: [String] = []
        for nonce in server.requests.compactMap(nonce) where !seen.contains(nonce) { seen.append(nonce) }
        return seen
    }

    /// Requests that carried no proof.
    static func unpaid(_ server: ScriptedServer) -> Int { server.requests.filter { nonce($0) == nil }.count }

    static func temporaryLedger() throws -> PaymentLedger { try PaymentLedger(path: PaymentLedgerTests.temporaryPath()) }

    /// A paying client on `ledger` whose clock is `clock`, through `http` (by default the shared client, which follows
    /// redirects, as the README's example has it).
    static func client(_ ledger: PaymentLedger, clock: ManualClock, http: HTTPClient = .shared, attempts: Int = 2) -> PaymentClient {
        var client = PaymentClient(http: http, payer: ProofSignerTests.payer, ledger: ledger, budget: Budget(overall: .init()),
                                   logger: Logger(label: "tollgate.client.tests"))
        client.nowMillis = { clock.nowMillis }
        client.attempts = attempts
        client.timeout = .seconds(10)
        return client
    }
}
