import Foundation
import TollgateCore
import TollgateX402

/// Turns a chosen offer into the proof a server of its version reads: v2, a `PaymentPayload` echoing the offer with
/// the purchase's `payment-identifier` (base64 JSON in `PAYMENT-SIGNATURE`, or the object itself in MCP's `_meta`);
/// v1, the v1 payload (`x402Version: 1`, the v1 network name, no echoed offer) in `X-PAYMENT`.
struct ProofSigner: Sendable {
    let payer: ExactEVMPayer

    /// The v2 payload for `choice`, identified by `purchaseId`.
    func payload(_ choice: PaymentChoice, terms: PaymentTerms, purchaseId: String, nowSeconds: Int64) throws(ClientError) -> X402.PaymentPayload {
        do {
            var payload = try payer.pay(choice.option.requirements, resource: terms.version == 2 ? terms.resource : nil, now: nowSeconds)
            payload.extensions = [X402.paymentIdentifierExtension: .object(["info": .object(["id": .string(purchaseId)])])]
            return payload
        } catch {
            throw ClientError(.noPayableOffer, "the offer could not be signed: \(error.description)")
        }
    }

    /// The HTTP header that carries the payment for `terms`' version.
    func header(_ choice: PaymentChoice, terms: PaymentTerms, purchaseId: String, nowSeconds: Int64) throws(ClientError) -> LedgerProof {
        let payload = try payload(choice, terms: terms, purchaseId: purchaseId, nowSeconds: nowSeconds)
        let value: String
        let name: String
        if terms.version == 1 {
            name = X402.legacyPaymentHeader
            let v1: JSONValue = .object([
                "x402Version": .integer(1), "scheme": .string(choice.option.scheme),
                "network": .string(choice.option.v1Network ?? choice.option.network),
                "payload": (try? JSONValue.encoding(payload.payload)) ?? .null,
            ])
            value = HeaderCodec.base64(v1.canonicalBytes)
        } else {
            name = X402.paymentSignatureHeader
            value = HeaderCodec.encode(payload)
        }
        return LedgerProof(name: name, value: value, payload: payload)
    }

    struct LedgerProof {
        var name: String
        var value: String
        var payload: X402.PaymentPayload

        /// Throws when the authorization's validBefore is not a number: read as 0 it would look expired, and so free to
        /// abandon or to pay anew while it can still settle.
        func signed(payer: ExactEVMPayer, version: Int) throws(ClientError) -> PaymentLedger.SignedProof {
            let authorization = payload.payload.authorization
            guard let validBefore = Int64(authorization.validBefore) else {
                throw ClientError(.noPayableOffer, "the signed authorization's validBefore (\(authorization.validBefore)) is not a time in seconds")
            }
            return PaymentLedger.SignedProof(name: name, value: value, payer: payer.address.checksummed, nonce: authorization.nonce,
                                             validBefore: validBefore, x402Version: version)
        }
    }
}
