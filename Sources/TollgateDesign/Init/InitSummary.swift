import TollgateCore

/// Sentences about a plan, for the generated file's header and the summary `tollgate init` prints.
public enum InitSummary {
    /// "anonymous x402 payers, API keys".
    public static func identities(_ plan: InitPlan) -> String {
        plan.identities.map { identity in
            switch identity {
            case .anonymous: "anonymous x402 payers"
            case .apiKeys: "API keys"
            case .jwt: "JWT"
            }
        }.joined(separator: ", ")
    }

    /// "0.01 USDC per request on Base Sepolia (eip155:84532), paid to 0x…".
    public static func price(_ plan: InitPlan, withNetwork: Bool = true) -> String {
        let token = plan.network == .custom ? plan.asset.id : "USDC"
        var text: String
        switch plan.unit {
        case .package: text = "\(plan.price) \(token) per package of \(plan.packageSize ?? 0) requests"
        case .file: text = "\(plan.price) \(token) per file"
        case .minute: text = "\(plan.price) \(token) per minute of work (\(plan.routePrice) per second)"
        case .second: text = "\(plan.price) \(token) per second of work"
        case .request, .record: text = "\(plan.price) \(token) per \(plan.unit.noun)"
        }
        if plan.quantity == nil && (plan.unit == .record || plan.unit == .second) {
            text = "\(plan.price) \(token) per payment, counted in \(plan.unit.noun)s"
        }
        if let quantity = plan.quantity {
            let source = switch quantity.source {
            case .query(let name): "?\(name)="
            case .body(let path): "body field \(path)"
            }
            text += ", quantity from \(source) (max \(quantity.max))"
        }
        if plan.settle == "before" { text += ", settled before the work" }
        guard withNetwork else { return text }
        let network = switch plan.network {
        case .baseSepolia: "Base Sepolia (\(plan.asset.network), test network)"
        case .base: "Base (\(plan.asset.network), main net)"
        case .custom: plan.asset.network
        }
        return "\(text) on \(network), paid to \(plan.payTo)"
    }
}
