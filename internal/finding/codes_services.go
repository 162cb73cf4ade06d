package finding

// serviceEntries are the catalogue entries of the Service and LoadBalancer checks.
var serviceEntries = []Entry{
	{
		Code:     "LB001",
		Area:     "services",
		Title:    "LoadBalancer Service has no external IP",
		Severity: Critical,
		Meaning: "The Service is of type LoadBalancer but status.loadBalancer.ingress is empty: clients outside the cluster have no address to reach it. " +
			"The cloud provider's LB ensurer (the service controller in kube-controller-manager or cloud-controller-manager) writes what it tried and why it failed as events on the Service (EnsuringLoadBalancer, SyncLoadBalancerFailed). " +
			"On Azure the failures fall into a few causes: the cluster identity lacks a permission on a network resource (AuthorizationFailed, LinkedAuthorizationFailed), its credentials expired, a requested IP or public IP does not exist or sits in another resource group, a wrong internal-subnet annotation or private IP, a quota or limit reached, a public IP of the wrong SKU, throttling (HTTP 429) or a concurrent operation (both transient), or a conflicting frontend, rule or probe on the load balancer. " +
			"With no events at all, no cloud controller acted on the Service (no cloud provider, or its controller is down); with spec.loadBalancerClass another controller owns it.",
		Fix: "The finding names the cause read from the latest failure event (the Azure error code first) and the commands that fix it: a role assignment for the identity, action and scope the error quotes; the resource group of a requested public IP (annotation service.beta.kubernetes.io/azure-load-balancer-resource-group); an existing subnet for service.beta.kubernetes.io/azure-load-balancer-internal-subnet; usage against quota; or waiting out throttling and concurrent operations. " +
			"Confirm with 'kubectl describe service -n NS NAME' and the Activity log of the node resource group. docs/loadbalancers.md lists every cause with real messages.",
		Seeds: []string{"000_feb3c2f47c7a686a.txt", "001_d6f9ca48b5f6b863.txt"},
	},
	{
		Code:     "SVC001",
		Area:     "services",
		Title:    "Service selector matches no pod",
		Severity: Critical,
		Meaning:  "The Service selects pods by label, and no pod in its namespace carries all of those labels: it has no endpoints, and kube-proxy rejects connections to it.",
		Fix:      "Compare the Service's spec.selector with the pod template labels of the workload meant to back it ('kubectl get pods -n NS --show-labels'), and fix whichever is wrong.",
	},
	{
		Code:     "SVC002",
		Area:     "services",
		Title:    "Service pods match but none is ready",
		Severity: Critical,
		Meaning:  "Pods match the Service's selector but none of them is Ready, so no endpoint is ready and connections are rejected. The finding says why each pod is not ready: pending, failing readiness probe, crash looping, terminating.",
		Fix:      "Fix the pods: 'kubectl describe pod' for events and readiness probe failures, 'kubectl logs --previous' for a crash loop.",
	},
	{
		Code:     "SVC003",
		Area:     "services",
		Title:    "Service targetPort not exposed by its pods",
		Severity: Warning,
		Meaning:  "A Service port's targetPort is a name that no selected pod declares, or a number no selected pod's containers declare. A named targetPort that no container declares yields no endpoint for that port; a number that nothing listens on yields connection refused.",
		Fix:      "Set targetPort to the containerPort (number or name) the application listens on, or declare that port on the container.",
	},
}
