extension InitPlan {
    struct PermissionPart {
        var scopes: [String] = [], scope: String?, writeScope: String?, actionScopes: [ActionScope] = [], privateFields: PrivateFields?
    }

    // MARK: 4. roles and permissions

    static func permissions(_ answers: InitAnswers, readOnly: Bool, method: String, anonymous: Bool,
                            _ problems: inout InitProblems) -> PermissionPart {
        let given = answers.permissions
        var part = PermissionPart()
        for scope in given.scopes ?? [] {
            if let checked = problems.check({ try InitCheck.scope(scope, field: "permissions.scopes") }), !part.scopes.contains(checked) {
                part.scopes.append(checked)
            }
        }
        part.scope = problems.optional(given.scope) { try InitCheck.scope($0, field: "permissions.scope") }
        if part.scope != nil && anonymous {
            problems.add(.conflict("permissions.scope", "a resource open to anonymous payers cannot require a scope: anonymous callers hold none "
                                   + "(remove anonymous from identity.methods, or the scope)"))
        }
        part.writeScope = problems.optional(given.writeScope) { try InitCheck.scope($0, field: "permissions.write_scope") }
        let writeMethods = Self.writeMethods(matching: method)
        if let writeScope = part.writeScope {
            if readOnly {
                problems.add(.conflict("permissions.write_scope", "the resource is read-only; a write scope needs resource.read_only: false"))
            } else if writeMethods.isEmpty {
                problems.add(.conflict("permissions.write_scope", "the routes match only \(method): there is no write method to guard"))
            }
            part.actionScopes = writeMethods.map { ActionScope(action: $0, scope: writeScope) }
        }
        for (action, scope) in (given.actionScopes ?? [:]).sorted(by: { $0.key < $1.key }) {
            let field = "permissions.action_scopes"
            let key: String?
            if action.hasPrefix("?") {
                key = problems.check { "?" + (try InitCheck.identifier(String(action.dropFirst()), field: field, what: "the query parameter")) }
            } else {
                key = problems.check { try InitCheck.method(action, field: field) }
                if key == "*" { problems.add(.invalid(field, "an action is one HTTP method or ?parameter, not *")) }
            }
            guard let key, let checked = problems.check({ try InitCheck.scope(scope, field: field) }) else { continue }
            if part.actionScopes.contains(where: { $0.action == key }) {
                problems.add(.conflict(field, "\(key) already needs \(part.writeScope ?? "a scope") (write_scope)"))
                continue
            }
            part.actionScopes.append(ActionScope(action: key, scope: checked))
        }
        if let rule = given.privateFields {
            let fields = (rule.fields ?? []).compactMap { name in
                problems.check { try InitCheck.jsonPath(name, field: "permissions.private_fields.fields") }
            }
            if (rule.fields ?? []).isEmpty { problems.add(.invalid("permissions.private_fields.fields", "name at least one field")) }
            let scope = problems.check {
                try InitCheck.scope(rule.scope ?? InitDefaults.privateScope(answers), field: "permissions.private_fields.scope")
            }
            if let scope, !fields.isEmpty { part.privateFields = PrivateFields(scope: scope, fields: fields) }
        }
        return part
    }
}
