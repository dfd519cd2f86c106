// Scheduling layer for Dynamics 365: everything one environment needs, in one resource group.
//
//   user-assigned managed identity ─┬─ runtime storage   (Functions host: blobs, diagnostic tables, deployment package)
//   (the app's only Azure identity) ├─ data storage      (the app's tables: bookings, locks, holds, outbox, config)
//                                   ├─ Service Bus       (topic booking-events + subscriptions, queues graph-changes, dynamics-changes)
//                                   ├─ Key Vault         (webhook secret, admin key, optional Graph/Dataverse secret)
//                                   └─ Application Insights (Entra ID ingestion, no instrumentation-key auth)
//   Function App (Flex Consumption, Python 3.11) runs as that identity.
//
// Invariants this template keeps (tests/unit/test_infra.py checks what checkov cannot):
// - No keys: shared-key access is off on both storage accounts, local (SAS) auth is off on Service Bus and
//   Application Insights, and no app setting carries a key or a connection string with a secret. Every
//   connection is identity-based (`<name>__accountName|fullyQualifiedNamespace`, `__credential`, `__clientId`).
// - Least privilege: each role is assigned to the identity on the narrowest resource that needs it
//   (Service Bus roles on the topic, each subscription and each queue; table role on the data account only).
// - Every Service Bus entity the code names exists here, and every app setting the code reads is set here
//   (or deliberately left unset in Azure; see the test).
// - Secrets live in Key Vault and reach the app as Key Vault references resolved with the same identity.

targetScope = 'resourceGroup'

@description('Short name used in every resource name (lowercase letters and digits, 3-11 characters).')
@minLength(3)
@maxLength(11)
param baseName string

@description('Azure region of every resource; must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('Tags put on every resource.')
param tags object = {}

@description('Python version of the Functions worker (the app targets 3.11).')
@allowed([
  '3.11'
])
param pythonVersion string = '3.11'

@description('Memory of one Flex Consumption instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound of Flex Consumption instances (caps cost and the load on Graph, Dataverse and Table storage). 40 is the platform\'s lowest allowed maximum.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Replication of both storage accounts. GZRS keeps bookings through a zone outage and a regional one; choose ZRS where GZRS is not offered. Never LRS.')
@allowed([
  'Standard_GZRS'
  'Standard_RAGZRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param storageSku string = 'Standard_GZRS'

@description('Spread Function App instances across availability zones; set false in a region without Flex Consumption zone support.')
param zoneRedundant bool = true

@description('Service Bus tier. Standard has topics, sessions, duplicate detection and dead-lettering; Premium adds isolation, private endpoints and larger messages.')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

@description('How long Service Bus remembers message ids (ISO 8601). The outbox relay republishes unconfirmed events within minutes; a day is ample.')
param duplicateDetectionWindow string = 'P1D'

@description('How the app authenticates to Microsoft Graph and Dataverse. managedIdentity: the user-assigned identity itself (no secret anywhere; grant it the Graph app role and a Dataverse application user). clientSecret: an Entra app registration whose secret is kept in Key Vault.')
@allowed([
  'managedIdentity'
  'clientSecret'
])
param upstreamAuth string = 'managedIdentity'

@description('clientSecret only: the application (client) id of the Entra app registration used for Graph and Dataverse.')
param appRegistrationClientId string = ''

@description('clientSecret only: the object id of that app registration\'s service principal (enterprise application). The current code also uses it for Table storage and Service Bus publishing (see infra/README.md), so it gets those two data roles.')
param appRegistrationPrincipalId string = ''

@description('clientSecret only: the app registration\'s client secret, stored in Key Vault as graph-client-secret. Leave empty on later deployments to keep the stored one.')
@secure()
param appRegistrationClientSecret string = ''

@description('Dataverse Web API base URL, e.g. https://contoso.crm.dynamics.com/api/data/v9.2')
param dataverseUrl string

@description('systemuserid of the Dataverse application user this app signs in as (its own writes are ignored by the Dynamics webhook).')
param dynamicsApplicationUserId string = ''

@description('CSP frame-ancestors of the booking page: the Dynamics origins that may embed it.')
param bookingPageFrameAncestors string = '\'self\' https://*.dynamics.com'

@description('Comma-separated event type slugs the public booking page may offer, on top of each event type\'s own public flag; empty: every public one.')
param bookingPageEventTypes string = ''

@description('Booking page abuse limits (docs/booking-page.md): unexpired holds per client address.')
@minValue(1)
param bookingPageMaxHoldsPerClient int = 2

@description('Booking page abuse limits: requests per minute per client address (every /book/* request).')
@minValue(1)
param bookingPageRequestsPerMinute int = 120

@description('Booking page abuse limits: largest share (0-1) of an event type\'s bookable slots that page holds may cover.')
param bookingPageMaxHeldShare string = '0.2'

@description('Booking page abuse limits: page bookings per invitee email address per UTC day.')
@minValue(1)
param bookingPageMaxBookingsPerEmail int = 3

@description('Which X-Forwarded-For entry, counted from the right, is the client: 1 = the address the App Service front end appended; 2 behind Azure Front Door (lock the app to Front Door then).')
@minValue(1)
param forwardedForHops int = 1

@description('Base URL Graph calls back (change and lifecycle notifications), e.g. https://<custom-domain>/api. Empty: the app\'s default host name.')
param publicBaseUrl string = ''

@description('Mailbox reminder emails are sent from (Graph sendMail; needs the Mail.Send application permission, scoped to this mailbox: infra/README.md).')
param reminderSender string = 'scheduling@contoso.com'

@description('Shared secret the Dynamics service endpoint sends in the webhook header; stored in Key Vault as dynamics-webhook-secret. Give it on the first deployment (e.g. openssl rand -base64 48); leave empty later to keep the stored one.')
@secure()
param dynamicsWebhookSecret string = ''

@description('Key for /admin/* on top of the platform function key; stored in Key Vault as admin-api-key. Give it on the first deployment; leave empty later to keep the stored one.')
@secure()
param adminApiKey string = ''

@description('Fernet key(s) that encrypt outgoing-webhook secrets at rest (comma-separated, newest first); stored in Key Vault as webhook-secret-key. Give it on the first deployment (python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"); leave empty later to keep the stored one.')
@secure()
param webhookSecretKey string = ''
@description('Key that signs invitees\' manage links (/manage/{token}); stored in Key Vault as manage-link-key, never in Table storage. Give at least 32 random bytes on the first deployment (e.g. openssl rand -base64 48); leave empty later to keep the stored one. Rotating it invalidates every link already sent.')
@secure()
param manageLinkKey string = ''

@description('Header name in which Dynamics sends the webhook secret.')
param dynamicsWebhookHeader string = 'x-scheduling-webhook-key'

@description('Origins allowed to call the booking page API cross-origin (exact https origins, never *); enforced by the app (CORS_ALLOWED_ORIGINS, http_api/cors.py), so platform CORS stays off. Empty: no cross-origin calls.')
param bookingPageOrigins array = []

@description('Prefix of every table the app creates in the data account.')
param tablePrefix string = 'sched'

@description('Days Log Analytics keeps logs and traces.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 90

@description('Unix time at which Key Vault secrets written by this deployment expire (rotate before then). Default: one year after the deployment that writes them.')
param secretsExpireAt int = dateTimeToEpoch(dateTimeAdd(utcNow(), 'P365D'))

// ---------------------------------------------------------------------------------------------------------
// Names and values shared by the modules and the app settings.

var suffix = uniqueString(resourceGroup().id, baseName)
var names = {
  identity: 'id-${baseName}-${suffix}'
  logs: 'log-${baseName}-${suffix}'
  insights: 'appi-${baseName}-${suffix}'
  dataStorage: take('st${toLower(baseName)}d${suffix}', 24)
  runtimeStorage: take('st${toLower(baseName)}r${suffix}', 24)
  serviceBus: 'sb-${baseName}-${suffix}'
  keyVault: take('kv-${baseName}-${suffix}', 24)
  plan: 'plan-${baseName}-${suffix}'
  functionApp: 'func-${baseName}-${suffix}'
  deploymentContainer: 'app-package'
}

// The app's Service Bus entities (the code names them: triggers/*.py, bootstrap/settings.py).
var bookingTopic = 'booking-events'
var bookingSubscriptions = [
  'outlook'
  'dataverse'
  'webhooks'
]
var graphChangesQueue = 'graph-changes'
// Dynamics webhook contexts, stored before POST /dynamics/webhook answers (Dynamics retries only 502/503/504, once).
var dynamicsChangesQueue = 'dynamics-changes'
// One number for the subscriptions' maxDeliveryCount and the app's SYNC_MAX_DELIVERY_COUNT: the sync marks a
// booking failed on the last delivery, so the two must agree.
var maxDeliveryCount = 10

var usesClientSecret = upstreamAuth == 'clientSecret'

// Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

// The data account: Storage Table Data Contributor for the app's tables, nothing on blobs or queues.
var identityTableRoles = [
  {
    principalId: identity.properties.principalId
    roleDefinitionId: roles.storageTableDataContributor
  }
]
var dataStorageRoles = concat(identityTableRoles, appRegistrationTableRoles)
// clientSecret mode: the code's DefaultAzureCredential for Table storage then signs in as the app registration.
var appRegistrationTableRoles = usesClientSecret && !empty(appRegistrationPrincipalId) ? [
  {
    principalId: appRegistrationPrincipalId
    roleDefinitionId: roles.storageTableDataContributor
  }
] : []

// ---------------------------------------------------------------------------------------------------------
// Identity

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: names.identity
  location: location
  tags: tags
}

// ---------------------------------------------------------------------------------------------------------
// Modules

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    workspaceName: names.logs
    insightsName: names.insights
    retentionInDays: logRetentionDays
    principalId: identity.properties.principalId
  }
}

module runtimeStorage 'modules/storage.bicep' = {
  name: 'runtime-storage'
  params: {
    location: location
    tags: tags
    name: names.runtimeStorage
    sku: storageSku
    containers: [
      names.deploymentContainer
    ]
    // Functions host storage: Storage Blob Data Owner (host blobs, timer locks, keys, the deployment package)
    // and Storage Table Data Contributor (the host's diagnostic events). No queue role: the app has no
    // storage-queue or blob triggers.
    roles: [
      {
        principalId: identity.properties.principalId
        roleDefinitionId: roles.storageBlobDataOwner
      }
      {
        principalId: identity.properties.principalId
        roleDefinitionId: roles.storageTableDataContributor
      }
    ]
  }
}

module dataStorage 'modules/storage.bicep' = {
  name: 'data-storage'
  params: {
    location: location
    tags: tags
    name: names.dataStorage
    sku: storageSku
    containers: []
    roles: dataStorageRoles
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'service-bus'
  params: {
    location: location
    tags: tags
    name: names.serviceBus
    sku: serviceBusSku
    topicName: bookingTopic
    subscriptionNames: bookingSubscriptions
    queueNames: [
      graphChangesQueue
      dynamicsChangesQueue
    ]
    duplicateDetectionWindow: duplicateDetectionWindow
    maxDeliveryCount: maxDeliveryCount
    principalId: identity.properties.principalId
    extraSenderPrincipalId: usesClientSecret ? appRegistrationPrincipalId : ''
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'key-vault'
  params: {
    location: location
    tags: tags
    name: names.keyVault
    principalId: identity.properties.principalId
    secretsExpireAt: secretsExpireAt
    dynamicsWebhookSecret: dynamicsWebhookSecret
    adminApiKey: adminApiKey
    webhookSecretKey: webhookSecretKey
    manageLinkKey: manageLinkKey
    upstreamClientSecret: usesClientSecret ? appRegistrationClientSecret : ''
  }
}

// ---------------------------------------------------------------------------------------------------------
// App settings: every setting the app reads (bootstrap/settings.py, http_api/endpoint.py), plus the
// identity-based connections the Functions host resolves itself.

var keyVaultUri = 'https://${names.keyVault}${environment().suffixes.keyvaultDns}'
var identitySettings = {
  // Functions host storage (AzureWebJobsStorage) by identity.
  AzureWebJobsStorage__accountName: names.runtimeStorage
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  // Service Bus triggers (connection="ServiceBusConnection") and the app's publisher (same setting name).
  ServiceBusConnection__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identity.properties.clientId
  // Application Insights with Entra ID (local authentication is disabled on the component).
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
}
var appSettingsMap = union(identitySettings, {
  // Table storage by identity (azure-data-tables + DefaultAzureCredential).
  TABLES_ENDPOINT: dataStorage.outputs.tableEndpoint
  TABLE_PREFIX: tablePrefix
  BOOKING_TOPIC: bookingTopic
  SYNC_MAX_DELIVERY_COUNT: string(maxDeliveryCount)
  GRAPH_BASE_URL: 'https://graph.microsoft.com/v1.0'
  GRAPH_TIMEOUT_SECONDS: '10'
  DATAVERSE_TIMEOUT_SECONDS: '10'
  // How long a sync delivery owns a booking before another may take over (a crashed one's lease ends).
  SYNC_LEASE_SECONDS: '300'
  BUSY_CACHE_TTL_SECONDS: '60'
  DATAVERSE_URL: dataverseUrl
  AZURE_TENANT_ID: tenant().tenantId
  // Graph and Dataverse tokens: the managed identity (DefaultAzureCredential picks the user-assigned identity
  // named by AZURE_CLIENT_ID), or the app registration with its secret from Key Vault.
  AZURE_CLIENT_ID: usesClientSecret ? appRegistrationClientId : identity.properties.clientId
  DYNAMICS_WEBHOOK_SECRET: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=dynamics-webhook-secret)'
  DYNAMICS_WEBHOOK_HEADER: dynamicsWebhookHeader
  DYNAMICS_APPLICATION_USER_ID: dynamicsApplicationUserId
  // Graph subscriptions: notificationUrl/lifecycleNotificationUrl are {PUBLIC_BASE_URL}/graph/... (docs/outlook-sync.md).
  PUBLIC_BASE_URL: empty(publicBaseUrl) ? 'https://${names.functionApp}.azurewebsites.net/api' : publicBaseUrl
  GRAPH_CHANGES_QUEUE: 'graph-changes'
  DYNAMICS_CHANGES_QUEUE: dynamicsChangesQueue
  // Reminder emails (send_reminders): the mailbox they come from (infra/README.md, Mail.Send).
  REMINDER_SENDER: reminderSender
  // The entity alias of the post image registered on the Dynamics webhook step (docs/dynamics-webhook.md).
  DYNAMICS_POST_IMAGE_NAME: 'PostImage'
  CORS_ALLOWED_ORIGINS: join(bookingPageOrigins, ',')
  // The booking page (/book/*): who may frame it (CSP frame-ancestors) and which event types it offers.
  BOOKING_PAGE_FRAME_ANCESTORS: bookingPageFrameAncestors
  BOOKING_PAGE_EVENT_TYPES: bookingPageEventTypes
  // Abuse limits of the key-less page, counted in Table storage so they hold across instances.
  BOOKING_PAGE_MAX_HOLDS_PER_CLIENT: string(bookingPageMaxHoldsPerClient)
  BOOKING_PAGE_REQUESTS_PER_MINUTE: string(bookingPageRequestsPerMinute)
  BOOKING_PAGE_MAX_HELD_SHARE: bookingPageMaxHeldShare
  BOOKING_PAGE_MAX_BOOKINGS_PER_EMAIL: string(bookingPageMaxBookingsPerEmail)
  FORWARDED_FOR_HOPS: string(forwardedForHops)
  WEBHOOK_TIMEOUT_SECONDS: '10'
  // Outgoing-webhook secrets are encrypted with this key, kept out of Table storage (issue 13).
  WEBHOOK_SECRET_KEY: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=webhook-secret-key)'
  // Not local development: webhooks go to public https hosts only (scheduling_core/domain/webhooks.py).
  AZURE_FUNCTIONS_ENVIRONMENT: 'Production'
  // Every request answers within 30 s (api.md "Limits"): 503 at this deadline (http_api/endpoint.py).
  REQUEST_DEADLINE_SECONDS: '25'
  // /admin/* needs this key in x-functions-key on top of the runtime's function-key check, so a host key
  // handed to an API client does not open the admin API (see infra/README.md, "Keys").
  ADMIN_API_KEY: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=admin-api-key)'
  // Signs the invitees' manage links {PUBLIC_BASE_URL}/manage/{token} (docs/decisions.md, issue 14).
  MANAGE_LINK_KEY: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=manage-link-key)'
})
var secretSettings = usesClientSecret ? {
  AZURE_CLIENT_SECRET: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=graph-client-secret)'
} : {}

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  params: {
    location: location
    tags: tags
    planName: names.plan
    name: names.functionApp
    identityId: identity.id
    deploymentContainerUrl: '${runtimeStorage.outputs.blobEndpoint}${names.deploymentContainer}'
    pythonVersion: pythonVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    zoneRedundant: zoneRedundant
    // The app answers CORS itself (per route, preflights included); platform CORS would override it.
    allowedOrigins: []
    appSettings: union(appSettingsMap, secretSettings)
  }
  dependsOn: [
    // The host starts on deployment: its storage and vault roles must exist first.
    keyVault
  ]
}

output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
output keyVaultName string = names.keyVault
output keyVaultUri string = keyVaultUri
output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output dataStorageAccount string = names.dataStorage
output runtimeStorageAccount string = names.runtimeStorage
output applicationInsightsName string = names.insights
