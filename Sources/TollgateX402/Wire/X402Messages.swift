import Foundation
import TollgateCore

/// x402 v2 messages (the x402 v2 specification). Keys are camelCase, absent optionals are omitted, amounts are
/// decimal strings.
public enum X402 {
    public static let version = 2
    public static let paymentRequiredHeader = "PAYMENT-REQUIRED"
    public static let paymentSignatureHeader = "PAYMENT-SIGNATURE"
    public static let paymentResponseHeader = "PAYMENT-RESPONSE"
    public static let legacyPaymentHeader = "X-PAYMENT"
    /// The key under `extra` that carries Tollgate's signed offer; stock clients echo unknown keys.
    public static let offerExtraKey = "tollgate"
    /// The idempotency extension (x402 v2 extensions): `extensions["payment-identifier"].info.id`.
    public static let paymentIdentifierExtension = "payment-identifier"

    public static func isValidPaymentIdentifier(_ id: String) -> Bool {
        (16...128).contains(id.utf8.count) && id.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    public struct ResourceInfo: Codable, Sendable, Hashable {
        public var url: String
        public var description: String?
        public var mimeType: String?
        public init(url: String, description: String? = nil, mimeType: String? = nil) {
            self.url = url
            self.description = description
            self.mimeType = mimeType
        }
    }

    public struct PaymentRequirements: Codable, Sendable, Hashable {
        public var scheme: String
        public var network: String
        public var asset: String
        public var amount: String
        public var payTo: String
        public var maxTimeoutSeconds: Int
        public var extra: [String: JSONValue]?
        public init(scheme: String, network: String, asset: String, amount: String, payTo: String, maxTimeoutSeconds: Int,
                    extra: [String: JSONValue]?) {
            self.scheme = scheme
            self.network = network
            self.asset = asset
            self.amount = amount
            self.payTo = payTo
            self.maxTimeoutSeconds = maxTimeoutSeconds
            self.extra = extra
        }
    }

    public struct PaymentRequired: Codable, Sendable, Hashable {
        public var x402Version: Int
        public var error: String?
        public var resource: ResourceInfo
        public var accepts: [PaymentRequirements]
        public var extensions: [String: JSONValue]?
        public init(x402Version: Int = X402.version, error: String?, resource: ResourceInfo, accepts: [PaymentRequirements],
                    extensions: [String: JSONValue]? = nil) {
            self.x402Version = x402Version
            self.error = error
            self.resource = resource
            self.accepts = accepts
            self.extensions = extensions
        }
    }

    public struct Authorization: Codable, Sendable, Hashable {
        public var from: String
        public var to: String
        public var value: String
        public var validAfter: String
        public var validBefore: String
        public var nonce: String
        public init(from: String, to: String, value: String, validAfter: String, validBefore: String, nonce: String) {
            self.from = from
            self.to = to
            self.value = value
            self.validAfter = validAfter
            self.validBefore = validBefore
            self.nonce = nonce
        }
    }

    public struct ExactEVMPayload: Codable, Sendable, Hashable {
        public var signature: String
        public var authorization: Authorization
        public init(signature: String, authorization: Authorization) {
            self.signature = signature
            self.authorization = authorization
        }
    }

    public struct PaymentPayload: Codable, Sendable, Hashable {
        public var x402Version: Int
        public var resource: ResourceInfo?
        public var accepted: PaymentRequirements
        public var payload: ExactEVMPayload
        public var extensions: [String: JSONValue]?
        public init(x402Version: Int = X402.version, resource: ResourceInfo?, accepted: PaymentRequirements, payload: ExactEVMPayload,
                    extensions: [String: JSONValue]? = nil) {
            self.x402Version = x402Version
            self.resource = resource
            self.accepted = accepted
            self.payload = payload
            self.extensions = extensions
        }
    }

    public struct SettleResponse: Codable, Sendable, Hashable {
        public var success: Bool
        public var errorReason: String?
        public var errorMessage: String?
        public var payer: String?
        public var transaction: String
        public var network: String
        public var amount: String?
        public init(success: Bool, errorReason: String? = nil, errorMessage: String? = nil, payer: String?, transaction: String,
                    network: String, amount: String? = nil) {
            self.success = success
            self.errorReason = errorReason
            self.errorMessage = errorMessage
            self.payer = payer
            self.transaction = transaction
            self.network = network
            self.amount = amount
        }
    }

    public struct VerifyResponse: Codable, Sendable, Hashable {
        public var isValid: Bool
        public var invalidReason: String?
        public var invalidMessage: String?
        public var payer: String?
        public init(isValid: Bool, invalidReason: String? = nil, invalidMessage: String? = nil, payer: String?) {
            self.isValid = isValid
            self.invalidReason = invalidReason
            self.invalidMessage = invalidMessage
            self.payer = payer
        }
    }

    public struct SupportedKind: Codable, Sendable, Hashable {
        public var x402Version: Int
        public var scheme: String
        public var network: String
        public init(x402Version: Int, scheme: String, network: String) {
            self.x402Version = x402Version
            self.scheme = scheme
            self.network = network
        }
    }

    public struct SupportedResponse: Codable, Sendable, Hashable {
        public var kinds: [SupportedKind]
        public var extensions: [String]?
        public var signers: [String: [String]]?
        public init(kinds: [SupportedKind], extensions: [String]? = [], signers: [String: [String]]? = nil) {
            self.kinds = kinds
            self.extensions = extensions
            self.signers = signers
        }
    }

    /// The body of `/verify` and `/settle`: `{"x402Version":2,"paymentPayload":…,"paymentRequirements":…}`.
    ///
    /// The payload is spliced in byte for byte as the client sent it (it was already parsed once),
    /// so the facilitator sees exactly what was signed and the gateway does not re-encode it.
    public struct FacilitatorRequest: Sendable, Hashable {
        public let body: [UInt8]

        public init(body: [UInt8]) { self.body = body }

        public init(rawPayload: [UInt8], requirements: PaymentRequirements) {
            var body = Array(#"{"x402Version":2,"paymentPayload":"#.utf8)
            body += rawPayload
            body += Array(#","paymentRequirements":"#.utf8)
            body += JSONWriter.bytes(requirements)
            body.append(UInt8(ascii: "}"))
            self.body = body
        }

        public init(payload: PaymentPayload, requirements: PaymentRequirements) {
            self.init(rawPayload: JSONWriter.bytes(payload, capacity: 2048), requirements: requirements)
        }

        /// The v1 body: `{"x402Version":1,"paymentPayload":<v1 payload>,"paymentRequirements":<v1 requirements>}`.
        public init(v1Payload: [UInt8], requirements: X402V1.PaymentRequirements) {
            var body = Array(#"{"x402Version":1,"paymentPayload":"#.utf8)
            body += v1Payload
            body += Array(#","paymentRequirements":"#.utf8)
            body += JSONWriter.bytes(requirements)
            body.append(UInt8(ascii: "}"))
            self.body = body
        }

        /// A request in either version, brought to the v2 shape: networks as CAIP-2, a v1 payload's `accepted` taken
        /// from the requirements it was sent with (v1 echoes none) but with the network the payload names (`contents()`).
        public struct Contents: Decodable, Sendable {
            public var x402Version: Int
            public var paymentPayload: PaymentPayload
            public var paymentRequirements: PaymentRequirements
        }
    }
}

// Written by hand, in the order the synthesized encoders used: a 402 writes one of each, and `JSONEncoder` was the
// largest share of a 402's CPU.
extension X402.ResourceInfo: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("url", url)
        writer.field("description", description)
        writer.field("mimeType", mimeType)
        writer.endObject()
    }
}

extension X402.PaymentRequirements: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("scheme", scheme)
        writer.field("network", network)
        writer.field("asset", asset)
        writer.field("amount", amount)
        writer.field("payTo", payTo)
        writer.field("maxTimeoutSeconds", maxTimeoutSeconds)
        writer.field("extra", extra.map(JSONValue.object))
        writer.endObject()
    }
}

extension X402.PaymentRequired: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        write(to: &writer, extensions: extensions.map { RawJSON(JSONValue.object($0)) }) { writer in
            for requirements in accepts { writer.write(requirements) }
        }
    }

    /// With `extensions` already encoded (a 402's are rendered once per route), and the items of `accepts` written by
    /// `writeAccepts`, in place of the stored ones.
    public func write(to writer: inout JSONWriter, extensions: RawJSON?, accepts writeAccepts: (inout JSONWriter) -> Void) {
        writer.beginObject()
        writer.field("x402Version", x402Version)
        writer.field("error", error)
        writer.field("resource", resource)
        writer.key("accepts")
        writer.beginArray()
        writeAccepts(&writer)
        writer.endArray()
        writer.field("extensions", extensions)
        writer.endObject()
    }
}

// A paid request's payload is written again for the facilitator (`ExactEVMRail.checkedPayload`): in declaration order,
// as the synthesized encoder wrote it, without `JSONEncoder`.
extension X402.PaymentPayload: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("x402Version", x402Version)
        writer.field("resource", resource)
        writer.field("accepted", accepted)
        writer.field("payload", payload)
        writer.field("extensions", extensions.map(JSONValue.object))
        writer.endObject()
    }
}

extension X402.ExactEVMPayload: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("signature", signature)
        writer.field("authorization", authorization)
        writer.endObject()
    }
}

extension X402.Authorization: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("from", from)
        writer.field("to", to)
        writer.field("value", value)
        writer.field("validAfter", validAfter)
        writer.field("validBefore", validBefore)
        writer.field("nonce", nonce)
        writer.endObject()
    }
}

extension X402.VerifyResponse: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("isValid")
        writer.value(.bool(isValid))
        writer.field("invalidReason", invalidReason)
        writer.field("invalidMessage", invalidMessage)
        writer.field("payer", payer)
        writer.endObject()
    }
}

extension X402.SettleResponse: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("success")
        writer.value(.bool(success))
        writer.field("errorReason", errorReason)
        writer.field("errorMessage", errorMessage)
        writer.field("payer", payer)
        writer.field("transaction", transaction)
        writer.field("network", network)
        writer.field("amount", amount)
        writer.endObject()
    }
}
