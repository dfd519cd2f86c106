// Service Bus namespace (Entra ID only: disableLocalAuth) with
// - topic `booking-events`: duplicate detection on the message id (= CloudEvent id), one subscription per
//   consumer, each with sessions (session id = booking id: one booking's events in order), dead-lettering on
//   expiry and after maxDeliveryCount deliveries;
// - queues `graph-changes` (validated Graph change notifications for the reconciler) and `dynamics-changes`
//   (Dynamics webhook contexts, stored before the webhook answers), dead-lettered likewise.
// Roles are scoped to the entities: Data Sender on the topic (publishing, and scheduling the copies of
// throttled messages: ServiceBusSender.schedule_messages), Data Receiver on each subscription (a topic
// trigger needs effective scope over its subscription), Sender and Receiver on each queue.
// Note: requiresSession and requiresDuplicateDetection cannot be changed on an existing entity.

param location string
param tags object
param name string
@allowed([
  'Standard'
  'Premium'
])
param sku string
param topicName string
param subscriptionNames array
param queueNames array
param duplicateDetectionWindow string
param maxDeliveryCount int
@description('Principal (object) id of the app identity.')
param principalId string
@description('Optional second principal that publishes to the topic and the queue (clientSecret mode).')
param extraSenderPrincipalId string = ''

var sender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // Azure Service Bus Data Sender
var receiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // Azure Service Bus Data Receiver

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: union({
    name: sku
    tier: sku
  }, sku == 'Premium' ? {
    capacity: 1
  } : {})
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource topic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: namespace
  name: topicName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    defaultMessageTimeToLive: 'P14D'
    enableBatchedOperations: true
    supportOrdering: true
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
}

resource subscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = [
  for subscriptionName in subscriptionNames: {
    parent: topic
    name: subscriptionName
    properties: {
      requiresSession: true
      deadLetteringOnMessageExpiration: true
      deadLetteringOnFilterEvaluationExceptions: true
      maxDeliveryCount: maxDeliveryCount
      lockDuration: 'PT1M'
      defaultMessageTimeToLive: 'P14D'
      enableBatchedOperations: true
    }
  }
]

// Each subscription's $Default rule (a TrueFilter when created) becomes a SQL filter: every ordinary event,
// plus the scheduled copies a throttled handler addressed to this subscription (application property
// `retrySubscription`; scheduling_core/adapters/service_bus.py). A copy for `outlook` must not reach
// `dataverse` or `webhooks`. A property a message lacks is NULL in a SQL filter.
resource subscriptionRules 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2022-10-01-preview' = [
  for (subscriptionName, i) in subscriptionNames: {
    parent: subscriptions[i]
    name: '$Default'
    properties: {
      filterType: 'SqlFilter'
      sqlFilter: {
        sqlExpression: 'retrySubscription IS NULL OR retrySubscription = \'${subscriptionName}\''
      }
    }
  }
]

resource queues 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [
  for queueName in queueNames: {
  parent: namespace
  name: queueName
  properties: {
    requiresSession: false
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    deadLetteringOnMessageExpiration: true
    maxDeliveryCount: maxDeliveryCount
    lockDuration: 'PT1M'
    defaultMessageTimeToLive: 'P7D'
    enableBatchedOperations: true
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
  }
]

resource topicSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, principalId, sender)
  scope: topic
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sender)
  }
}

resource subscriptionReceivers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (subscriptionName, i) in subscriptionNames: {
    name: guid(subscriptions[i].id, principalId, receiver)
    scope: subscriptions[i]
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', receiver)
    }
  }
]

resource queueSenders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (queueName, i) in queueNames: {
    name: guid(queues[i].id, principalId, sender)
    scope: queues[i]
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sender)
    }
  }
]

resource queueReceivers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (queueName, i) in queueNames: {
    name: guid(queues[i].id, principalId, receiver)
    scope: queues[i]
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', receiver)
    }
  }
]

resource extraTopicSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(extraSenderPrincipalId)) {
  name: guid(topic.id, extraSenderPrincipalId, sender)
  scope: topic
  properties: {
    principalId: extraSenderPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sender)
  }
}

resource extraQueueSenders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (queueName, i) in queueNames: if (!empty(extraSenderPrincipalId)) {
    name: guid(queues[i].id, extraSenderPrincipalId, sender)
    scope: queues[i]
    properties: {
      principalId: extraSenderPrincipalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sender)
    }
  }
]

output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output namespaceId string = namespace.id
