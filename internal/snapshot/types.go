package snapshot

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Aliases keep the bundle's resource table on one line per resource.
type (
	corev1Node                = corev1.Node
	corev1Pod                 = corev1.Pod
	corev1Service             = corev1.Service
	corev1Event               = corev1.Event
	corev1ConfigMap           = corev1.ConfigMap
	discoveryv1EndpointSlice  = discoveryv1.EndpointSlice
	networkingv1NetworkPolicy = networkingv1.NetworkPolicy
	appsv1DaemonSet           = appsv1.DaemonSet
	appsv1Deployment          = appsv1.Deployment
)
