import TollgateCore

/// x402 v1 messages, still sent by most client libraries in use: the terms in the 402's JSON body (`x402Version: 1`,
/// `accepts[]` with `maxAmountRequired` and v1 network names), the payment in `X-PAYMENT` (no echoed terms), the
/// receipt in `X-PAYMENT-RESPONSE`.
public enum X402V1 {
    public static let version = 1
    public static let paymentHeader = "X-PAYMENT"
    public static let paymentResponseHeader = "X-PAYMENT-RESPONSE"

    /// v1 network names and their CAIP-2 ids (v1 names networks; v2 uses CAIP-2).
    public enum Networks {
        static let names: [String: String] = [
            "base": "eip155:8453", "base-sepolia": "eip155:84532", "avalanche": "eip155:43114", "avalanche-fuji": "eip155:43113",
            "polygon": "eip155:137", "polygon-amoy": "eip155:80002", "sei": "eip155:1329", "sei-testnet": "eip155:1328",
            "iotex": "eip155:4689", "peaq": "eip155:3338", "ethereum": "eip155:1", "sepolia": "eip155:11155111",
        ]
        static let byId: [String: String] = Dictionary(names.map { ($1, $0) }) { first, _ in first }

        /// The CAIP-2 id of a v1 name; a CAIP-2 id (which some v1 clients send) is returned as it is.
        public static func caip2(_ network: String) -> String? {
            if network.hasPrefix("eip155:"), ExactEVMVerifier.chainId(network) != nil { return network }
            return names[network]
        }

        /// The v1 name of a CAIP-2 id; the id itself for a network v1 never named.
        public static func name(_ caip2: String) -> String {
            byId[caip2] ?? caip2
        }
    }

    /// One way to pay, as a v1 402 body lists it.
    public struct PaymentRequirements: Codable, Sendable, Hashable {
        public var scheme: String
        /// A v1 name (`base-sepolia`), or a CAIP-2 id for a network v1 never named.
        public var network: String
        public var maxAmountRequired: String
        /// The resource's URL.
        public var resource: String
        public var description: String
        public var mimeType: String
        /// v1 discovery: `{"input": {...}, "output": {...}}` (the bazaar's v1 form).
        public var outputSchema: JSONValue?
        public var payTo: String
        public var maxTimeoutSeconds: Int
        public var asset: String
        public var extra: [String: JSONValue]?

        public init(scheme: String, network: String, maxAmountRequired: String, resource: String, description: String, mimeType: String,
                    outputSchema: JSONValue? = nil, payTo: String, maxTimeoutSeconds: Int, asset: String, extra: [String: JSONValue]?) {
            self.scheme = scheme
            self.network = network
            self.maxAmountRequired = maxAmountRequired
            self.resource = resource
            self.description = description
            self.mimeType = mimeType
            self.outputSchema = outputSchema
            self.payTo = payTo
            self.maxTimeoutSeconds = maxTimeoutSeconds
            self.asset = asset
            self.extra = extra
        }

        /// The same terms in the v2 shape (network as CAIP-2); nil for a network that cannot be named so.
        public var v2: X402.PaymentRequirements? {
            guard let network = Networks.caip2(network) else { return nil }
            return X402.PaymentRequirements(scheme: scheme, network: network, asset: asset, amount: maxAmountRequired, payTo: payTo,
                                            maxTimeoutSeconds: maxTimeoutSeconds, extra: extra)
        }
    }

    /// What a v1 client sends in `X-PAYMENT`: no resource, no echoed terms.
    public struct PaymentPayload: Codable, Sendable, Hashable {
        public var x402Version: Int
        public var scheme: String
        public var network: String
        public var payload: X402.ExactEVMPayload

        public init(x402Version: Int = X402V1.version, scheme: String, network: String, payload: X402.ExactEVMPayload) {
            self.x402Version = x402Version
            self.scheme = scheme
            self.network = network
            self.payload = payload
        }
    }
}

extension X402V1.PaymentRequirements: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        write(to: &writer, outputSchema: outputSchema.map(RawJSON.init))
    }

    /// With the output schema already encoded (a 402's are rendered once per route), in place of the stored one.
    public func write(to writer: inout JSONWriter, outputSchema: RawJSON?) {
        writer.beginObject()
        writer.field("scheme", scheme)
        writer.field("network", network)
        writer.field("maxAmountRequired", maxAmountRequired)
        writer.field("resource", resource)
        writer.field("description", description)
        writer.field("mimeType", mimeType)
        writer.field("outputSchema", outputSchema)
        writer.field("payTo", payTo)
        writer.field("maxTimeoutSeconds", maxTimeoutSeconds)
        writer.field("asset", asset)
        writer.field("extra", extra.map(JSONValue.object))
        writer.endObject()
    }
}

extension X402V1.PaymentPayload: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("x402Version", x402Version)
        writer.field("scheme", scheme)
        writer.field("network", network)
        writer.key("payload")
        writer.beginObject()
        writer.field("signature", payload.signature)
        writer.key("authorization")
        writer.beginObject()
        let authorization = payload.authorization
        writer.field("from", authorization.from)
        writer.field("to", authorization.to)
        writer.field("value", authorization.value)
        writer.field("validAfter", authorization.validAfter)
        writer.field("validBefore", authorization.validBefore)
        writer.field("nonce", authorization.nonce)
        writer.endObject()
        writer.endObject()
        writer.endObject()
    }
}
