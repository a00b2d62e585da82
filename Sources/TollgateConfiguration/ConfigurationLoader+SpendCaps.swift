import TollgateCore
import Yams

extension ConfigurationLoader {
    /// `spend_caps`: a list of `{per: client | payer, period: day | month, asset: <asset id>, max: "<decimal>"}`.
    static func readSpendCaps(_ node: Node?, assets: [Asset], _ r: inout YAMLReader) -> [SpendCap] {
        var result: [SpendCap] = []
        for (index, item) in (r.sequence(node, "spend_caps") ?? []).enumerated() {
            let path = "spend_caps[\(index)]"
            guard let fields = r.mapping(item, path, known: ["per", "period", "asset", "max"]) else { continue }
            let subject = r.string(fields["per"], "\(path).per", required: true, parent: item).flatMap(SpendCap.Subject.init(rawValue:))
            if subject == nil { r.fail(fields["per"] ?? item, "\(path).per", "expected client, organisation or payer") }
            let period = r.string(fields["period"], "\(path).period", required: true, parent: item).flatMap(SpendCap.Period.init(rawValue:))
            if period == nil { r.fail(fields["period"] ?? item, "\(path).period", "expected day or month") }
            let assetId = r.string(fields["asset"], "\(path).asset", required: true, parent: item) ?? ""
            guard let asset = assets.first(where: { $0.id == assetId }) else {
                r.fail(fields["asset"] ?? item, "\(path).asset", "unknown asset \(assetId)")
                continue
            }
            let text = r.string(fields["max"], "\(path).max", required: true, parent: item) ?? ""
            guard let maximum = TokenAmount(decimal: text, decimals: asset.decimals) else {
                r.fail(fields["max"] ?? item, "\(path).max", "expected a decimal amount with at most \(asset.decimals) decimals")
                continue
            }
            guard let subject, let period else { continue }
            result.append(SpendCap(subject: subject, period: period, network: asset.network, asset: asset.address, maximum: maximum))
        }
        return result
    }

    /// `quotas`: a list of `{per: client | organisation, period: day | month, unit: <metering unit>, max: <count>}`.
    static func readQuotas(_ node: Node?, _ r: inout YAMLReader) -> [Quota] {
        var result: [Quota] = []
        for (index, item) in (r.sequence(node, "quotas") ?? []).enumerated() {
            let path = "quotas[\(index)]"
            guard let fields = r.mapping(item, path, known: ["per", "period", "unit", "max"]) else { continue }
            let subject = r.string(fields["per"], "\(path).per", required: true, parent: item).flatMap(SpendCap.Subject.init(rawValue:))
            if subject == nil || subject == .payer { r.fail(fields["per"] ?? item, "\(path).per", "expected client or organisation") }
            let period = r.string(fields["period"], "\(path).period", required: true, parent: item).flatMap(SpendCap.Period.init(rawValue:))
            if period == nil { r.fail(fields["period"] ?? item, "\(path).period", "expected day or month") }
            let unit = r.string(fields["unit"], "\(path).unit", required: true, parent: item) ?? ""
            let maximum = r.int(fields["max"], "\(path).max", range: 1...1_000_000_000)
            if fields["max"] == nil { r.fail(item, "\(path).max", "is required") }
            guard let subject, subject != .payer, let period, let maximum, !unit.isEmpty else { continue }
            result.append(Quota(subject: subject, period: period, unit: unit, maximum: maximum))
        }
        return result
    }
}
