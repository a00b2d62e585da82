extension InitField {
    /// The answer already given to this field, written as it would be typed (nil when unanswered).
    public func text(in answers: InitAnswers) -> String? {
        switch self {
        case .resourceName: answers.resource.name
        case .upstream: answers.resource.upstream
        case .paths: answers.resource.paths.map(Self.list)
        case .description: answers.resource.description
        case .readOnly: answers.resource.readOnly.map(Self.yesNo)
        case .method: answers.resource.method
        case .mimeType: answers.resource.mimeType
        case .callers: answers.callers.map(Self.list)
        case .identities: answers.identity.methods.map(Self.list)
        case .apiClients: answers.identity.apiClients.map { Self.list($0.map(\.id)) }
        case .jwtIssuer: answers.identity.jwt?.issuer
        case .jwtAudience: answers.identity.jwt?.audience
        case .jwksFile: answers.identity.jwt?.jwksFile
        case .unit: answers.billing.unit
        case .price: answers.billing.price
        case .network: answers.billing.network
        case .payTo: answers.billing.payTo
        case .quantity: answers.billing.quantity.flatMap { rule in rule.query.map { "query:\($0)" } ?? rule.body.map { "body:\($0)" } }
        case .quantityMax: answers.billing.quantity?.max.map(String.init)
        case .quantityDefault: answers.billing.quantity.map { $0.default.map(String.init) ?? "none" }
        case .records: answers.billing.records.flatMap { rule in rule.header.map { "header:\($0)" } ?? rule.jsonArray.map { "json_array:\($0)" } }
        case .workSecondsHeader: answers.billing.workSecondsHeader
        case .packageSize: answers.billing.packageSize.map(String.init)
        case .scopes: answers.permissions.scopes.map { $0.isEmpty ? "none" : Self.list($0) }
        case .scope: answers.permissions.scope
        case .writeScope: answers.permissions.writeScope
        case .actionScopes: answers.permissions.actionScopes.map { Self.list($0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }) }
        case .privateFields: answers.permissions.privateFields?.fields.map(Self.list)
        case .privateScope: answers.permissions.privateFields?.scope
        case .unpaid: answers.limits.unpaid.map(Self.rate)
        case .paid: answers.limits.paid.map(Self.rate)
        case .invalid: answers.limits.invalid.map(Self.rate)
        case .spendCap: answers.limits.spendCap?.max
        case .spendCapPer: answers.limits.spendCap?.per
        case .spendCapPeriod: answers.limits.spendCap?.period
        case .quota: answers.limits.quota?.max.map(String.init)
        case .quotaPer: answers.limits.quota?.per
        case .quotaPeriod: answers.limits.quota?.period
        case .denials: answers.audit.denials
        case .retentionDays: answers.audit.retentionDays.map(String.init)
        case .archiveDir: answers.audit.archiveDir
        case .facilitators: answers.failures.facilitators.map(Self.list)
        case .settle: answers.failures.settle
        case .refundsAutomatic: answers.failures.refunds?.automatic.map(Self.yesNo)
        case .payoutContact: answers.failures.refunds?.payoutContact
        case .admin: answers.failures.admin?.enabled.map(Self.yesNo)
        case .adminListen: answers.failures.admin?.listen
        case .adminTokenEnv: answers.failures.admin?.tokenEnv
        case .listen: answers.gateway.listen
        case .publicURL: answers.gateway.publicURL
        case .sqlite: answers.gateway.sqlite
        case .secretEnv: answers.gateway.secretEnv
        }
    }

    /// The answer assumed when none is given (`InitDefaults`), written as it would be typed; nil when the
    /// answer is required.
    public func defaultText(in answers: InitAnswers) -> String? {
        switch self {
        case .resourceName, .upstream, .callers, .price, .payTo, .jwtIssuer, .jwksFile: nil
        case .paths: Self.list(InitDefaults.paths(answers))
        case .description: answers.resource.name
        case .readOnly: "yes"
        case .method: InitDefaults.method(answers)
        case .mimeType: InitDefaults.mimeType
        case .identities: Self.list(InitDefaults.identities(answers).map(\.rawValue))
        case .apiClients: Self.list(InitDefaults.apiClientIds(answers))
        case .jwtAudience: answers.resource.name
        case .unit: InitDefaults.unit.rawValue
        case .network: InitDefaults.network.rawValue
        case .quantity, .quantityDefault, .workSecondsHeader, .scope, .writeScope, .actionScopes, .privateFields, .spendCap, .quota,
             .payoutContact, .scopes: "none"
        case .quantityMax: String(InitDefaults.quantityMax(answers))
        case .records: "header:\(InitDefaults.records.header ?? "X-Record-Count")"
        case .packageSize: String(InitDefaults.packageSize)
        case .privateScope: InitDefaults.privateScope(answers)
        case .unpaid: Self.rate(InitDefaults.rate("unpaid"))
        case .paid: Self.rate(InitDefaults.rate("paid"))
        case .invalid: Self.rate(InitDefaults.rate("invalid"))
        case .spendCapPer: InitDefaults.spendCapPer(answers)
        case .spendCapPeriod, .quotaPeriod: InitDefaults.period
        case .quotaPer: "client"
        case .denials: InitDefaults.denials
        case .retentionDays: "forever"
        case .archiveDir: InitDefaults.archiveDir
        case .facilitators: InitDefaults.networkChosen(answers) == .baseSepolia ? Self.list(InitDefaults.facilitators) : nil
        case .settle: InitDefaults.settle
        case .refundsAutomatic, .admin: "yes"
        case .adminListen: InitDefaults.adminListen
        case .adminTokenEnv: InitDefaults.adminTokenEnv
        case .listen: InitDefaults.listen
        case .publicURL: InitDefaults.publicURL(answers)
        case .sqlite: InitDefaults.sqlite
        case .secretEnv: InitDefaults.secretEnv
        }
    }

    static func list(_ items: [String]) -> String { items.joined(separator: ", ") }
    static func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }

    static func rate(_ rate: InitAnswers.Rate) -> String {
        switch rate {
        case .off: "off"
        case .limit(let perSecond, let burst): "\(InitGenerator.number(perSecond))/\(burst)"
        }
    }
}
