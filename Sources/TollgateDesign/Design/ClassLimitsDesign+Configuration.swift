import TollgateConfiguration
import TollgateCore
import TollgateX402

extension ClassLimitsDesign {
    /// The global limits, marked `defaults` when they equal the built-in ones.
    init(globalLimits limits: LimitsConfiguration) {
        let defaults = LimitsConfiguration.defaults.global
        let isDefault = limits.global.unpaid == defaults.unpaid && limits.global.paid == defaults.paid && limits.global.invalid == defaults.invalid
        self.init(scope: "global", source: isDefault ? "defaults" : "configured", classes: limits.global)
    }

    /// The limits in force on one route: its own, or the global ones.
    init(routeLimits limits: LimitsConfiguration, resource: String) {
        if let own = limits.perRoute[resource] {
            self.init(scope: resource, source: "route", classes: own)
        } else {
            self.init(scope: resource, source: "global", classes: limits.global)
        }
    }

    init(scope: String, source: String, classes: TrafficLimits.ClassLimits) {
        func figure(_ limit: RateLimit?) -> RateFigure? { limit.map { RateFigure(ratePerSecond: $0.ratePerSecond, burst: $0.burst) } }
        self.init(scope: scope, source: source, unpaid: figure(classes.unpaid), paid: figure(classes.paid), invalid: figure(classes.invalid))
    }
}
