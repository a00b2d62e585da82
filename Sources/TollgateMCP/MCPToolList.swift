import TollgateCore
import TollgateX402

/// `tools/list` with prices: each priced tool's `_meta` gains `x402/accepts` (the terms a PaymentRequired for it
/// carries, without the per-call offer) and `x402/price` (for people), the keys the x402 MCP transport's
/// reference server uses; no standard key exists yet.
public enum MCPToolList {
    public static let acceptsKey = "x402/accepts"
    public static let priceKey = "x402/price"

    /// The upstream's `tools/list` answer with the gateway's terms added to the tools it prices.
    public static func priced(_ answer: JSONRPCMessage, gate: MCPToolGate) -> JSONRPCMessage {
        guard case .object(var result)? = answer.result, case .array(let tools)? = result["tools"] else { return answer }
        result["tools"] = .array(tools.map { tool in
            guard case .object(var members) = tool, let name = members["name"]?.string,
                  let pricing = gate.route(of: name)?.pricing, !pricing.accepts.isEmpty else { return tool }
            var meta = members["_meta"]?.members ?? [:]
            meta[acceptsKey] = .array(pricing.accepts.map { terms($0, maxTimeoutSeconds: pricing.maxTimeoutSeconds) })
            meta[priceKey] = .string(humanPrice(pricing))
            members["_meta"] = .object(meta)
            return .object(members)
        })
        guard case .object(var message) = answer.value else { return answer }
        message["result"] = .object(result)
        return JSONRPCMessage(.object(message))
    }

    /// One way to pay as x402 `PaymentRequirements` (scheme `exact`).
    static func terms(_ acceptance: Route.Acceptance, maxTimeoutSeconds: Int) -> JSONValue {
        let requirements = X402.PaymentRequirements(
            scheme: "exact", network: acceptance.asset.network,
            asset: EthereumAddress(acceptance.asset.address)?.checksummed ?? acceptance.asset.address,
            amount: acceptance.amount.atomic, payTo: EthereumAddress(acceptance.payTo)?.checksummed ?? acceptance.payTo,
            maxTimeoutSeconds: maxTimeoutSeconds,
            extra: ["name": .string(acceptance.asset.eip712Name), "version": .string(acceptance.asset.eip712Version)])
        return (try? JSONValue.encoding(requirements)) ?? .null
    }

    /// `$0.01` for a dollar stablecoin, `0.01 <asset>` otherwise; per unit when the tool is priced per unit.
    static func humanPrice(_ pricing: Route.Pricing) -> String {
        guard let first = pricing.accepts.first else { return pricing.price }
        let name = first.asset.eip712Name.uppercased()
        let amount = name.contains("USD") ? "$" + pricing.price : "\(pricing.price) \(first.asset.eip712Name)"
        return pricing.metering.pricesPerUnit ? "\(amount) per \(pricing.unit)" : amount
    }
}
