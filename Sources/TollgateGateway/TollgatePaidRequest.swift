import TollgateCore

/// What Tollgate decided about a request it let through to a handler behind `TollgateMiddleware` (or to a tool
/// behind `PaidTools`, as `PaidTools.paidRequest`): who called,
/// what was paid, and the correlation id that names the request in the audit trail, the ledger and the client's
/// `Tollgate-Correlation-Id`. It is the same contract the reverse proxy signs into the `Tollgate-*` fields for its
/// backend, handed over in process instead, so a handler never parses (or trusts) request headers for it.
public struct TollgatePaidRequest: Sendable, Hashable {
    /// The client id (`clients[].id`, or `jwt:…` for a token's subject); `anonymous` for a caller without credentials.
    public var clientId: String
    /// The paying address, as the payment proof names it; nil when no x402 payment was made (a free route, or units
    /// spent from a prepaid package).
    public var payer: String?
    /// What was charged, as the contract spells it (`10000 0x036C…@eip155:84532`: atomic amount, asset, network;
    /// `package search-credits` for units spent from a package); nil on a free route.
    public var amount: String?
    /// The unit and quantity charged (`request=1`, `record=100`); nil on a free route.
    public var unit: String?
    /// The correlation id of this request (`tg_…`), the one the client receives.
    public var correlationId: String
    /// The client's IP address as the gateway saw it (the peer, or the hop a trusted proxy named); nil when unknown.
    public var clientAddress: String?
    /// Unix seconds at which the gateway forwarded the request.
    public var timestamp: Int64

    /// Whether this request was charged (an x402 payment or units from a package).
    public var isCharged: Bool { amount != nil }

    public init(clientId: String, payer: String?, amount: String?, unit: String?, correlationId: String, clientAddress: String?, timestamp: Int64) {
        self.clientId = clientId
        self.payer = payer
        self.amount = amount
        self.unit = unit
        self.correlationId = correlationId
        self.clientAddress = clientAddress
        self.timestamp = timestamp
    }

    /// The contract the gateway decided for a forwarded request; its empty fields (a free route) become nil.
    public init(contract: ContractSigner.Contract, clientAddress: String?) {
        self.init(clientId: contract.client, payer: contract.payer.isEmpty ? nil : contract.payer,
                  amount: contract.amount.isEmpty ? nil : contract.amount, unit: contract.unit.isEmpty ? nil : contract.unit,
                  correlationId: contract.correlationId, clientAddress: clientAddress, timestamp: contract.timestamp)
    }
}
