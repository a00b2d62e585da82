import TollgateCore
import TollgateX402

/// An offer the budget may pay, with its price in budget units.
public struct PaymentChoice: Sendable, Hashable {
    public let option: PaymentOption
    public let amount: TokenAmount
    public let units: MicroUnits
    public let asset: KnownAssets.Asset

    /// "0.01 USDC".
    public var price: String { "\(amount.decimalString(decimals: asset.decimals)) \(asset.symbol)" }
}

extension Budget {
    /// How long an authorization may be asked to stay valid (`maxTimeoutSeconds`).
    public static let validity = 10...3600

    /// The offers of `terms` this budget allows, cheapest first; when none is allowed, the error says why the
    /// first refused offer was refused (a payee outside the allow-list, a network, an asset, a price over the limit).
    public func choose(_ terms: PaymentTerms, host: String?, tool: String?) throws(ClientError) -> [PaymentChoice] {
        var allowed: [PaymentChoice] = []
        var refusals: [ClientError] = []
        for option in terms.options {
            guard option.isPayable, let amount = option.amount else {
                refusals.append(ClientError(.noPayableOffer, "the offer (\(option.scheme) on \(option.network)) is not an exact EVM payment"))
                continue
            }
            if let networks, !networks.contains(option.network) {
                refusals.append(ClientError(.notAllowed, "network \(option.network) is not in the budget's allow.networks"))
                continue
            }
            if let assets, !assets.contains(option.asset.lowercased()) {
                refusals.append(ClientError(.notAllowed, "asset \(option.asset) on \(option.network) is not in the budget's allow.assets"))
                continue
            }
            if let allowedPayees, !allowedPayees.contains(option.payTo.lowercased()) {
                refusals.append(ClientError(.notAllowed, "payee \(option.payTo) is not in the budget's allow.payees"))
                continue
            }
            guard let asset = knownAssets.asset(network: option.network, address: option.asset) else {
                refusals.append(ClientError(.notAllowed, "asset \(option.asset) on \(option.network) is unknown to the budget "
                                                + "(declare its decimals under assets: in a budget file)"))
                continue
            }
            guard let units = MicroUnits(atomic: amount, decimals: asset.decimals) else {
                refusals.append(ClientError(.budgetExceeded, "the offer asks for \(amount) atomic units, beyond any budget"))
                continue
            }
            // The server picks how long the authorization lives: a bearer instrument for years, or one that is dead
            // before it arrives, is not signed.
            guard Self.validity.contains(option.requirements.maxTimeoutSeconds) else {
                refusals.append(ClientError(.noPayableOffer, "the offer asks for an authorization valid \(option.requirements.maxTimeoutSeconds) s "
                                                + "(accepted: \(Self.validity.lowerBound) to \(Self.validity.upperBound) s)"))
                continue
            }
            let choice = PaymentChoice(option: option, amount: amount, units: units, asset: asset)
            if let refusal = perPaymentBreach(choice, host: host, tool: tool) {
                refusals.append(refusal)
                continue
            }
            allowed.append(choice)
        }
        guard !allowed.isEmpty else {
            // A budget refusal says more than "not payable" when both happened.
            throw refusals.first { $0.code == .budgetExceeded } ?? refusals.first { $0.code == .notAllowed } ?? refusals.first
                ?? ClientError(.noPayableOffer, "the 402 offers nothing to pay")
        }
        return allowed.sorted { $0.units < $1.units }
    }

    /// The per-payment limit `choice` breaks, naming it.
    func perPaymentBreach(_ choice: PaymentChoice, host: String?, tool: String?) -> ClientError? {
        for (scope, limits) in scopes(host: host, payee: choice.option.payTo, tool: tool) {
            if let limit = limits.perPayment, limit < choice.units {
                return ClientError(.budgetExceeded, "per_payment (\(scope)): the offer asks \(choice.price), the limit is \(limit)")
            }
        }
        return nil
    }

    /// The windowed limit `choice` would break, given what `spent(scope, seconds)` says was spent in each scope over
    /// the last `seconds`; nil when it fits every limit.
    func windowBreach(_ choice: PaymentChoice, host: String?, tool: String?,
                      spent: (SpendScope, Int64) throws -> MicroUnits) rethrows -> ClientError? {
        if let refusal = perPaymentBreach(choice, host: host, tool: tool) { return refusal }
        for (scope, limits) in scopes(host: host, payee: choice.option.payTo, tool: tool) {
            for window in limits.windows {
                let already = try spent(scope, window.seconds)
                if window.limit < already + choice.units {
                    return ClientError(.budgetExceeded, "\(window.name) (\(scope)): \(already) spent, this payment \(choice.units), the limit is \(window.limit)")
                }
            }
        }
        return nil
    }
}
