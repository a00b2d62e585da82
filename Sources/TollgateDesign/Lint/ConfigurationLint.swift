import TollgateConfiguration

/// The rules shared by `tollgate check`, `tollgate design` and `tollgate init` (docs/lint.md).
public enum ConfigurationLint {
    /// Every rule, in id order.
    public static let rules: [LintRule] = [
        .openToAnyKeyHolder, .paymentGatesWrite, .paidAlsoFreeForScope, .proofNotBound,
        .noUnpaidLimit, .noPaidLimit, .noInvalidLimit, .longOfferValidity, .longAuthorization,
        .singleFacilitator, .settleBeforeWithoutRefunds, .priceWithoutUnit, .unitWithoutMoment,
        .denialsNotAudited, .inlineSecret, .mainNetDevFacilitator, .assetMismatch, .authorizationExpiresBeforeSettlement,
        .windowShorterThanUpstream,
    ]

    /// The rule with this id.
    public static func rule(_ id: String) -> LintRule? {
        rules.first { $0.id == id }
    }

    /// Offers valid longer than this are reported (TG108).
    public static let offerValidityThresholdSeconds = 600
    /// Authorizations valid longer than this are reported (TG109).
    public static let maxTimeoutThresholdSeconds = 300

    /// Every finding for `configuration`, most severe first, then in rule and path order. Rules that need to
    /// know what the file said (TG112, TG113, the header part of TG115) only run on a configuration read by
    /// `ConfigurationLoader` (`configuration.source` set).
    public static func run(_ configuration: GatewayConfiguration) -> [LintFinding] {
        var context = LintContext(configuration)
        checkAuthorization(&context)
        checkLimits(&context)
        checkSettlement(&context)
        checkMetering(&context)
        checkAudit(&context)
        checkSecrets(&context)
        checkAssets(&context)
        return context.findings.sorted { a, b in
            if a.severity != b.severity { return a.severity > b.severity }
            if a.rule != b.rule { return a.rule < b.rule }
            if a.line != b.line { return (a.line ?? .max) < (b.line ?? .max) }
            return a.path < b.path
        }
    }
}
