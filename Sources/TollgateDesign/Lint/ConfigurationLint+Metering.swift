import TollgateConfiguration
import TollgateCore

extension ConfigurationLint {
    /// TG112, TG113: metering decisions left to defaults. Needs to know which keys the file wrote.
    static func checkMetering(_ c: inout LintContext) {
        guard let source = c.configuration.source else { return }
        for (index, _, pricing) in c.paidRoutes {
            let keys = source.explicitKeys(route: index)
            if keys.contains("price"), !keys.contains("unit") {
                c.report(.priceWithoutUnit, at: "routes[\(index)].price",
                         "\(c.name(route: index)) sets price \"\(pricing.price)\" but no unit: its terms say `\(pricing.unit)` by default",
                         fix: "add `unit: \(pricing.unit)` to routes[\(index)] (or the unit it really sells)")
            } else if keys.contains("unit"), !keys.contains("consumed") {
                c.report(.unitWithoutMoment, at: "routes[\(index)].unit",
                         "\(c.name(route: index)) bills per \(pricing.unit) but does not say when a unit is consumed (`on_success` by default)",
                         fix: "add `consumed: \(pricing.metering.moment.rawValue)` to routes[\(index)] (or `on_request` to charge upstream errors)")
            }
        }
    }

}
