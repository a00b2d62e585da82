import TollgateConfiguration
import TollgateCore
import TollgateX402

extension StorageDesign {
    init(_ configuration: GatewayConfiguration) {
        self.init(
            sqlitePath: configuration.sqlitePath, auditFlushMillis: configuration.auditFlushMillis,
            auditRetention: configuration.auditRetention.map {
                RetentionDesign(days: $0.retentionDays, archiveDirectory: $0.archiveDirectory, intervalSeconds: $0.intervalSeconds)
            },
            auditDenials: configuration.auditsDenials ? "all" : "none",
            refunds: RefundsDesign(automatic: configuration.refunds.automatic, payoutContact: configuration.refunds.payoutContact),
            idempotencyWindowSeconds: configuration.idempotencyWindowSeconds,
            admin: configuration.admin.map { admin in
                let token = switch admin.token {
                case .environment(let name): "env \(name)"
                case .file(let path): "file \(path)"
                }
                return AdminDesign(listen: admin.listen.description, loopback: NetworkAddress.isLoopback(host: admin.listen.host),
                                   allowRemote: admin.allowRemote, token: token)
            })
    }
}
