import Foundation
import Testing
import TollgateCore
import TollgateDevFacilitator
import TollgateSQLite
import TollgateX402

/// One authorization is one claim, however the client spells it: an attacker who replays a paid proof with the
/// nonce or payer spelled differently, the JSON re-encoded or its keys escaped, is refused before the
/// facilitator is asked; a payload that names a key twice is refused as invalid.
@Suite struct ProofSpellingTests {
    /// The payload's JSON with `change` applied to its text.
    static func respelled(_ payload: X402.PaymentPayload, _ change: (String) -> String) -> String {
        let json = String(decoding: HeaderCodec.json(payload), as: UTF8.self)
        return Data(change(json).utf8).base64EncodedString()
    }

    @Test func everyOtherSpellingOfAPaidAuthorizationIsTheSameClaim() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let terms = try #require(try await Exchange.get(url).terms)
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let payload = try payer.pay(terms, now: Int64(Date().timeIntervalSince1970))
            let paid = try await Exchange.get(url, [("PAYMENT-SIGNATURE", HeaderCodec.encode(payload))])
            #expect(paid.status == 200)

            let nonce = payload.payload.authorization.nonce
            let from = payload.payload.authorization.from
            let spellings: [(String, String)] = [
                ("nonce without 0x", Self.respelled(payload) { $0.replacingOccurrences(of: nonce, with: String(nonce.dropFirst(2))) }),
                ("nonce in capitals", Self.respelled(payload) { $0.replacingOccurrences(of: nonce, with: "0X" + nonce.dropFirst(2).uppercased()) }),
                ("payer in lowercase", Self.respelled(payload) { $0.replacingOccurrences(of: from, with: from.lowercased()) }),
                ("escaped key", Self.respelled(payload) { $0.replacingOccurrences(of: #""nonce""#, with: #""\u006eonce""#) }),
                ("spaces and reordered keys", Self.respelled(payload) { json in
                    let object = try! JSONSerialization.jsonObject(with: Data(json.utf8))
                    let data = try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                    return String(decoding: data, as: UTF8.self)
                }),
            ]
            for (name, header) in spellings {
                let replay = try await Exchange.get(url, [("PAYMENT-SIGNATURE", header)])
                #expect(replay.status == 402, "\(name)")
                #expect(replay.terms?.error == "invalid_exact_evm_nonce_already_used", "\(name)")
                // Refused at the claim: the facilitator was never asked about it.
                let events = try await stack.store.events(correlationId: try #require(paid.correlationId)).map(\.event)
                #expect(events.filter { $0.stage == .facilitatorVerify }.count == 1, "\(name)")
            }
            #expect(try await facilitator.ledger.transferCount() == 1)
        }
    }

    @Test func aPayloadThatNamesAKeyTwiceIsRefusedAsInvalid() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let terms = try #require(try await Exchange.get(url).terms)
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let payload = try payer.pay(terms, now: Int64(Date().timeIntervalSince1970))
            let nonce = payload.payload.authorization.nonce
            let other = "0x" + String(repeating: "ab", count: 32)
            let doubled: [(String, String)] = [
                ("two nonces", Self.respelled(payload) { $0.replacingOccurrences(of: #""nonce":"\#(nonce)""#, with: #""nonce":"\#(nonce)","nonce":"\#(other)""#) }),
                ("two nonces, one escaped", Self.respelled(payload) {
                    $0.replacingOccurrences(of: #""nonce":"\#(nonce)""#, with: #""nonce":"\#(nonce)","\u006eonce":"\#(other)""#)
                }),
                ("two signatures", Self.respelled(payload) { $0.replacingOccurrences(of: #""signature":"#, with: #""signature":"0x00","signature":"#) }),
            ]
            for (name, header) in doubled {
                let response = try await Exchange.get(url, [("PAYMENT-SIGNATURE", header)])
                #expect(response.status == 402, "\(name)")
                #expect(response.terms?.error == "invalid_payload", "\(name)")
            }
            #expect(try await facilitator.ledger.transferCount() == 0)
            // The genuine payload still pays: nothing was claimed by the refused ones.
            let paid = try await Exchange.get(url, [("PAYMENT-SIGNATURE", HeaderCodec.encode(payload))])
            #expect(paid.status == 200)
        }
    }
}
