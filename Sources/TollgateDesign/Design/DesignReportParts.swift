/// The sections decisions are derived from (everything but the decisions themselves).
struct DesignReportParts {
    var gateway: GatewayOverview
    var identity: IdentityDesign
    var routes: [RouteDesign]
    var networks: [NetworkDesign]
    var storage: StorageDesign
}
