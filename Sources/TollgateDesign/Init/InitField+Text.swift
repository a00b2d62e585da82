import Foundation

extension InitField {
    /// Checks `text` as this field's answer and stores it in `answers`; throws the reason it is refused.
    /// `none` (or `-`) clears an optional answer.
    public func apply(_ text: String, to answers: inout InitAnswers) throws(InitAnswerError) {
        let value = text.trimmingCharacters(in: .whitespaces)
        let field = rawValue
        switch self {
        case .resourceName: answers.resource.name = try InitCheck.identifier(value, field: field, what: "the resource id")
        case .upstream: answers.resource.upstream = try InitCheck.url(value, field: field)
        case .paths:
            var paths: [String] = []
            for item in try nonEmptyList(value, what: "path pattern, e.g. /datasets/*") { paths.append(try InitCheck.pathPattern(item, field: field)) }
            answers.resource.paths = paths
        case .description: answers.resource.description = try InitCheck.nonEmpty(value, field: field, what: "the description")
        case .readOnly: answers.resource.readOnly = try InitCheck.yesNo(value, field: field)
        case .method: answers.resource.method = try InitCheck.method(value, field: field)
        case .mimeType: answers.resource.mimeType = try InitCheck.mimeType(value, field: field)
        case .callers:
            var callers: [String] = []
            for item in try nonEmptyList(value, what: "caller: human, script, agent, integration") {
                callers.append(try InitCheck.choice(item, InitCaller.allCases.map(\.rawValue), aliases: InitCaller.aliases, field: field, what: "caller"))
            }
            answers.callers = callers
        case .identities:
            var methods: [String] = []
            for item in try nonEmptyList(value, what: "identity: anonymous, api_keys, jwt") {
                methods.append(try InitCheck.choice(item, InitIdentity.allCases.map(\.rawValue), aliases: InitIdentity.aliases, field: field,
                                                    what: "identity"))
            }
            answers.identity.methods = methods
        case .apiClients:
            var clients: [InitAnswers.APIClient] = []
            for item in try nonEmptyList(value, what: "API client id") {
                let id = try InitCheck.identifier(item, field: field, what: "the client id")
                guard id != "anonymous" else { throw .invalid(field, "anonymous is reserved for callers without a key") }
                clients.append(answers.identity.apiClients?.first { $0.id == id } ?? .init(id: id))
            }
            answers.identity.apiClients = clients
        case .jwtIssuer: answers.identity.jwt = with(answers.identity.jwt ?? .init()) { $0.issuer = value }
        case .jwtAudience: answers.identity.jwt = with(answers.identity.jwt ?? .init()) { $0.audience = value }
        case .jwksFile: answers.identity.jwt = with(answers.identity.jwt ?? .init()) { $0.jwksFile = value }
        case .unit:
            answers.billing.unit = try InitCheck.choice(value, InitUnit.allCases.map(\.rawValue), aliases: InitUnit.aliases, field: field, what: "unit")
        case .price: answers.billing.price = try InitCheck.price(value, decimals: answers.billing.asset?.decimals ?? 6, field: field)
        case .network:
            answers.billing.network = try InitCheck.choice(value, InitNetwork.allCases.map(\.rawValue), aliases: InitNetwork.aliases, field: field,
                                                           what: "network")
        case .payTo: answers.billing.payTo = try InitCheck.address(value, field: field)
        case .quantity: answers.billing.quantity = try quantity(value, current: answers.billing.quantity)
        case .quantityMax:
            let maximum = try InitCheck.integer(value, in: 1...1_000_000, field: field, what: "the most units one request may buy")
            answers.billing.quantity = with(answers.billing.quantity ?? .init()) { $0.max = maximum }
        case .quantityDefault:
            let number = InitCheck.isNone(value) ? nil
                : try InitCheck.integer(value, in: 1...(answers.billing.quantity?.max ?? 1_000_000), field: field, what: "the default quantity")
            answers.billing.quantity = with(answers.billing.quantity ?? .init()) { $0.default = number }
        case .records: answers.billing.records = try records(value)
        case .workSecondsHeader: answers.billing.workSecondsHeader = InitCheck.isNone(value) ? nil : try InitCheck.headerName(value, field: field)
        case .packageSize: answers.billing.packageSize = try InitCheck.integer(value, in: 1...100_000_000, field: field, what: "the package size")
        case .scopes:
            var scopes: [String] = []
            for item in InitCheck.list(value) { scopes.append(try InitCheck.scope(item, field: field)) }
            answers.permissions.scopes = scopes
        case .scope: answers.permissions.scope = InitCheck.isNone(value) ? nil : try InitCheck.scope(value, field: field)
        case .writeScope: answers.permissions.writeScope = InitCheck.isNone(value) ? nil : try InitCheck.scope(value, field: field)
        case .actionScopes: answers.permissions.actionScopes = try actionScopes(value)
        case .privateFields:
            var fields: [String] = []
            for item in InitCheck.list(value) { fields.append(try InitCheck.jsonPath(item, field: field)) }
            answers.permissions.privateFields = fields.isEmpty ? nil : with(answers.permissions.privateFields ?? .init()) { $0.fields = fields }
        case .privateScope:
            let scope = try InitCheck.scope(value, field: field)
            answers.permissions.privateFields = with(answers.permissions.privateFields ?? .init()) { $0.scope = scope }
        case .unpaid: answers.limits.unpaid = try InitCheck.rate(value, field: field)
        case .paid: answers.limits.paid = try InitCheck.rate(value, field: field)
        case .invalid: answers.limits.invalid = try InitCheck.rate(value, field: field)
        case .spendCap:
            if InitCheck.isNone(value) {
                answers.limits.spendCap = nil
            } else {
                let maximum = try InitCheck.price(value, decimals: answers.billing.asset?.decimals ?? 6, field: field, what: "the spend cap")
                answers.limits.spendCap = with(answers.limits.spendCap ?? .init()) { $0.max = maximum }
            }
        case .spendCapPer:
            let per = try InitCheck.spender(value, field: field)
            answers.limits.spendCap = with(answers.limits.spendCap ?? .init()) { $0.per = per }
        case .spendCapPeriod:
            let period = try InitCheck.period(value, field: field)
            answers.limits.spendCap = with(answers.limits.spendCap ?? .init()) { $0.period = period }
        case .quota:
            if InitCheck.isNone(value) {
                answers.limits.quota = nil
            } else {
                let maximum = try InitCheck.integer(value, in: 1...1_000_000_000, field: field, what: "the quota")
                answers.limits.quota = with(answers.limits.quota ?? .init()) { $0.max = maximum }
            }
        case .quotaPer:
            let per = try InitCheck.quotaHolder(value, field: field)
            answers.limits.quota = with(answers.limits.quota ?? .init()) { $0.per = per }
        case .quotaPeriod:
            let period = try InitCheck.period(value, field: field)
            answers.limits.quota = with(answers.limits.quota ?? .init()) { $0.period = period }
        case .denials: answers.audit.denials = try InitCheck.choice(value, ["all", "none"], field: field, what: "denial policy")
        case .retentionDays:
            answers.audit.retentionDays = ["forever", "none", "-", ""].contains(value.lowercased()) ? nil
                : try InitCheck.integer(value, in: 1...36_500, field: field, what: "the retention in days")
        case .archiveDir: answers.audit.archiveDir = try InitCheck.nonEmpty(value, field: field, what: "the archive directory")
        case .facilitators:
            var urls: [String] = []
            for item in try nonEmptyList(value, what: "facilitator URL") { urls.append(try InitCheck.url(item, field: field)) }
            answers.failures.facilitators = urls
        case .settle: answers.failures.settle = try InitCheck.choice(value, ["after", "before"], field: field, what: "settlement moment")
        case .refundsAutomatic:
            let automatic = try InitCheck.yesNo(value, field: field)
            answers.failures.refunds = with(answers.failures.refunds ?? .init()) { $0.automatic = automatic }
        case .payoutContact:
            answers.failures.refunds = with(answers.failures.refunds ?? .init()) { $0.payoutContact = InitCheck.isNone(value) ? nil : value }
        case .admin:
            let enabled = try InitCheck.yesNo(value, field: field)
            answers.failures.admin = with(answers.failures.admin ?? .init()) { $0.enabled = enabled }
        case .adminListen:
            let listen = try InitCheck.listen(value, loopback: true, field: field)
            answers.failures.admin = with(answers.failures.admin ?? .init()) { $0.listen = listen }
        case .adminTokenEnv:
            let name = try InitCheck.environmentName(value, field: field)
            answers.failures.admin = with(answers.failures.admin ?? .init()) { $0.tokenEnv = name }
        case .listen: answers.gateway.listen = try InitCheck.listen(value, field: field)
        case .publicURL: answers.gateway.publicURL = try InitCheck.url(value, field: field)
        case .sqlite: answers.gateway.sqlite = try InitCheck.nonEmpty(value, field: field, what: "the database path")
        case .secretEnv: answers.gateway.secretEnv = try InitCheck.environmentName(value, field: field)
        }
    }

    private func nonEmptyList(_ value: String, what: String) throws(InitAnswerError) -> [String] {
        let items = InitCheck.list(value)
        guard !items.isEmpty else { throw .invalid(rawValue, "name at least one \(what)") }
        return items
    }

    /// `query:NAME`, `body:PATH` or `none`; keeps the max and default already given.
    private func quantity(_ value: String, current: InitAnswers.Quantity?) throws(InitAnswerError) -> InitAnswers.Quantity? {
        if InitCheck.isNone(value) { return nil }
        let parts = value.split(separator: ":", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
        var rule = current ?? .init()
        switch parts.first?.lowercased() {
        case "query" where parts.count == 2:
            rule.query = try InitCheck.identifier(parts[1], field: rawValue, what: "the query parameter")
            rule.body = nil
        case "body" where parts.count == 2:
            rule.body = try InitCheck.jsonPath(parts[1], field: rawValue)
            rule.query = nil
        default:
            throw .invalid(rawValue, "\"\(value)\" is not a quantity source: query:NAME (e.g. query:limit), body:PATH, or none")
        }
        return rule
    }

    /// `header:NAME` or `json_array:PATH`.
    private func records(_ value: String) throws(InitAnswerError) -> InitAnswers.Records {
        let parts = value.split(separator: ":", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
        switch parts.first?.lowercased() {
        case "header" where parts.count == 2: return .init(header: try InitCheck.headerName(parts[1], field: rawValue))
        case "json_array" where parts.count == 2, "json" where parts.count == 2:
            return .init(jsonArray: try InitCheck.jsonPath(parts[1], field: rawValue))
        default:
            throw .invalid(rawValue, "\"\(value)\" does not say how records are counted: header:NAME (e.g. header:X-Record-Count) "
                           + "or json_array:PATH (e.g. json_array:records)")
        }
    }

    /// `ACTION=SCOPE, …` where ACTION is an HTTP method or `?parameter`.
    private func actionScopes(_ value: String) throws(InitAnswerError) -> [String: String]? {
        var result: [String: String] = [:]
        for item in InitCheck.list(value) {
            let parts = item.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else {
                throw .invalid(rawValue, "\"\(item)\" is not ACTION=SCOPE, e.g. ?export=datasets:export or DELETE=datasets:admin")
            }
            let action = parts[0].hasPrefix("?")
                ? "?" + (try InitCheck.identifier(String(parts[0].dropFirst()), field: rawValue, what: "the query parameter"))
                : try InitCheck.method(parts[0], field: rawValue)
            guard action != "*" else { throw .invalid(rawValue, "an action is one HTTP method or ?parameter, not *") }
            result[action] = try InitCheck.scope(parts[1], field: rawValue)
        }
        return result.isEmpty ? nil : result
    }

    private func with<T>(_ value: T, _ change: (inout T) -> Void) -> T {
        var copy = value
        change(&copy)
        return copy
    }
}
