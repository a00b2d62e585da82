import Foundation
import TollgateCore

/// The proof format of `ScriptedRail`: JSON in a `Test-Proof` header. `amount` and `payTo` are both
/// the authorization and the accepted terms, so changing them changes what the client says it accepted.
struct TestProof: Codable, Sendable, Hashable {
    var network: String
    var asset: String
    var amount: String
    var payTo: String
    var payer: String
    var nonce: String
    var validBefore: String
    var offerToken: String?
    var paymentIdentifier: String?

    var header: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    var key: ProofKey { ProofKey(network: network, asset: asset, payer: payer, nonce: nonce) }

    func paymentProof(rail: String) -> PaymentProof {
        PaymentProof(
            rail: rail, network: network, asset: asset, payer: payer, payee: payTo, amount: amount, nonce: nonce,
            validAfter: "0", validBefore: validBefore, signature: "0xsignature",
            accepted: .init(scheme: "exact", network: network, asset: asset, amount: amount, payTo: payTo,
                            maxTimeoutSeconds: nil, offerToken: offerToken),
            raw: Array(header.utf8), paymentIdentifier: paymentIdentifier)
    }
}
