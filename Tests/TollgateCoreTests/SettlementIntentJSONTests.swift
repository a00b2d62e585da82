import Foundation
import Testing
import TollgateCore

/// The stores write intents with `JSONWriter` and read them back with the synthesized `Decodable`: every field, every
/// optional present and absent, and text that needs escaping must come back as it was, or a settlement in doubt
/// could not be resolved after a crash.
@Suite struct SettlementIntentJSONTests {
    static func intent(metering: MeteringRecord?, response: StoredResponse?) -> SettlementIntent {
        let key = ProofKey(network: "eip155:84532", asset: "0x036cbd53842c5426634e7929541ec2318f3dcf7e",
                           payer: "0x" + String(repeating: "ab", count: 20), nonce: "0x" + String(repeating: "0c", count: 32))
        let body = Array(#"{"x402Version":2,"paymentPayload":{"note":"quote \" backslash \\ newline \n é"}}"#.utf8) + [0x00, 0xFF]
        let payment = PaymentRecord(correlationId: "tg_1", rail: "x402-exact-evm", network: key.network, asset: key.asset, payer: key.payer,
                                    payee: "0x" + String(repeating: "cd", count: 20), amount: "10000", nonce: key.nonce, transaction: "",
                                    clientId: "client \"quoted\"", resource: "datasets", unit: "request", quantity: 3, settledAtMillis: -1,
                                    bodySHA256: String(repeating: "f", count: 64))
        return SettlementIntent(key: key, correlationId: "tg_1", attempt: SettlementAttempt(authority: "http://127.0.0.1:8404", request: body),
                                payment: payment, metering: metering, response: response, redeliverable: true,
                                validBefore: 1_900_000_000, createdAtMillis: 1_800_000_000_123)
    }

    static let usage = UsageEvent(correlationId: "tg_1", clientId: "analyst", payer: "0xab", resource: "search", unit: "request",
                                  quantity: 7, paidQuantity: 100, source: .payment, amount: "500000", asset: "usdc", atMillis: 42)

    @Test(arguments: [
        intent(metering: nil, response: nil),
        intent(metering: MeteringRecord(usage: usage), response: nil),
        intent(metering: MeteringRecord(usage: usage, grant: PackageGrant(clientId: "analyst", package: "credits", unit: "request", units: 100)),
               response: StoredResponse(correlationId: "tg_1", clientId: "analyst", request: "GET /search?q=a\tb", status: 200,
                                        headers: [["Content-Type", "application/json"], ["X-Odd", "\u{01}\"\\"]], body: [0, 1, 255],
                                        expiresAt: 99, paymentIdentifier: "pay_0123456789abcdef")),
    ])
    func writtenIntentsReadBackUnchanged(_ intent: SettlementIntent) throws {
        let bytes = JSONWriter.bytes(intent)
        #expect(try JSONDecoder().decode(SettlementIntent.self, from: Data(bytes)) == intent)
        // The synthesized encoder's output reads back the same too (what older versions wrote).
        #expect(try JSONDecoder().decode(SettlementIntent.self, from: JSONEncoder().encode(intent)) == intent)
    }

    /// Intents recorded before the body was base64 (an array of numbers) are still read.
    @Test func readsTheArraySpellingOfTheBody() throws {
        let intent = Self.intent(metering: nil, response: nil)
        var object = try #require(try JSONSerialization.jsonObject(with: Data(JSONWriter.bytes(intent))) as? [String: Any])
        object["attempt"] = ["authority": intent.attempt.authority, "request": intent.attempt.request.map(Int.init)]
        let old = try JSONSerialization.data(withJSONObject: object)
        #expect(try JSONDecoder().decode(SettlementIntent.self, from: old) == intent)
    }
}
