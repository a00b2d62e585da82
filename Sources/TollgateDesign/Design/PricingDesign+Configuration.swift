import TollgateConfiguration
import TollgateCore
import TollgateX402

extension PricingDesign {
    init(_ pricing: Route.Pricing) {
        let metering = pricing.metering
        let quantity: QuantityDesign
        var most = 1
        switch metering.quantity {
        case .fixed(let units):
            quantity = QuantityDesign(kind: "fixed", units: units)
        case .query(let name, let defaultValue, let maximum):
            quantity = QuantityDesign(kind: "query", source: name, defaultValue: defaultValue, maximum: maximum)
            most = maximum
        case .body(let path, let defaultValue, let maximum):
            quantity = QuantityDesign(kind: "body", source: path, defaultValue: defaultValue, maximum: maximum)
            most = maximum
        }
        let rule = metering.package != nil ? "package" : metering.pricesPerUnit ? "per_unit" : "fixed"
        let first = pricing.accepts.first
        let decimals = first?.asset.decimals ?? 0
        let amount = first?.amount ?? TokenAmount(atomic: "0")!
        let payment = rule == "per_unit" ? (amount.multiplied(by: most) ?? amount) : amount
        let perRequest = metering.package.map { amount.dividedRoundingUp(by: $0.units) } ?? payment
        self.init(
            price: pricing.price, rule: rule, unit: pricing.unit, quantity: quantity, measure: Self.text(metering.measure),
            consumed: metering.moment.rawValue, settle: metering.settle.rawValue,
            package: metering.package.map { PackageDesign(name: $0.name, units: $0.units) },
            accepts: pricing.accepts.map {
                AcceptDesign(asset: $0.asset.id, network: $0.asset.network, amount: $0.amount.decimalString(decimals: $0.asset.decimals),
                             atomic: $0.amount.atomic, payTo: $0.payTo)
            },
            maxPayment: payment.decimalString(decimals: decimals), maxChargePerRequest: perRequest.decimalString(decimals: decimals),
            offerValiditySeconds: pricing.offerValiditySeconds, maxTimeoutSeconds: pricing.maxTimeoutSeconds)
    }

    static func text(_ measure: Metering.Measure) -> String {
        switch measure {
        case .quoted: "quoted"
        case .header(let name): "header \(name)"
        case .jsonArray(let path): "json_array \(path.isEmpty ? "$" : path)"
        case .bodyBytes: "body_bytes"
        case .elapsedSeconds: "elapsed_seconds"
        }
    }

    /// The first accepted asset's id (`usdc-base-sepolia`), for amounts in prose.
    var assetName: String { accepts.first?.asset ?? "" }

    /// `0.01 per request`, `0.05 per payment of 10 record`, `0.0001 per record × ?limit ≤ 250 (default 100)`,
    /// `0.50 per package of 100 request`.
    var priceText: String {
        switch rule {
        case "per_unit": "\(price) per \(unit) × \(quantity)"
        case "package": "\(price) per package of \(package?.units ?? 0) \(unit)"
        default: (quantity.units ?? 1) > 1 ? "\(price) per payment of \(quantity.units ?? 1) \(unit)" : "\(price) per request"
        }
    }
}
