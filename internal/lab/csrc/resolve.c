/* resolve: look a name up with the C library's getaddrinfo and print the
 * IPv4 addresses. Built twice by the lab: with musl-gcc (musl's stub resolver
 * does not retry over TCP when an answer is truncated) and with gcc (glibc
 * retries over TCP). Exit 0 with addresses, 2 when the lookup fails. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
	struct addrinfo hints, *res, *p;
	int n = 0, rc;
	char buf[INET_ADDRSTRLEN];
	if (argc != 2) {
		fprintf(stderr, "usage: %s NAME\n", argv[0]);
		return 1;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(argv[1], NULL, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "getaddrinfo %s: %s\n", argv[1], gai_strerror(rc));
		return 2;
	}
	for (p = res; p != NULL; p = p->ai_next) {
		struct sockaddr_in *sin = (struct sockaddr_in *)p->ai_addr;
		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
		printf("%s\n", buf);
		n++;
	}
	freeaddrinfo(res);
	fprintf(stderr, "%d addresses\n", n);
	return n > 0 ? 0 : 2;
}
