package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// njsModule is Debian's njs module (libnginx-mod-http-js).
const njsModule = "/usr/lib/nginx/modules/ngx_http_js_module.so"

// findNginx returns the nginx binary or "" when it is not installed.
func findNginx() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

func haveNJS() bool {
	_, err := os.Stat(njsModule)
	return err == nil
}

// nginxMain is the part every generated nginx.conf shares: one worker (the
// CPU budget is one core), no access log, everything under the run dir.
func nginxMain(dir string, njs bool) string {
	s := ""
	if njs {
		s += fmt.Sprintf("load_module %s;\n", njsModule)
	}
	// Running as root: workers keep root rather than "nobody", which could
	// not read fixtures under a private home.
	if os.Geteuid() == 0 {
		s += "user root;\n"
	}
	s += fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
`, dir)
	return s
}

func nginxHTTPCommon(dir string) string {
	return fmt.Sprintf(`    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
`, dir)
}

// upstreamConf serves the fixtures as static files.
func upstreamConf(dir, www, listen string) string {
	return nginxMain(dir, false) + "http {\n" + nginxHTTPCommon(dir) + fmt.Sprintf(`    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000 inactive=60s;
    default_type application/json;
    server {
        listen %s backlog=4096;
        root %s;
    }
}
`, listen, www)
}

// proxyConf is the plain reverse proxy contender.
func proxyConf(dir, listen, upstream string) string {
	return nginxMain(dir, false) + "http {\n" + nginxHTTPCommon(dir) + fmt.Sprintf(`    upstream backend {
        server %s;
        keepalive 64;
    }
    server {
        listen %s backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, upstream, listen)
}

// compositeConf is what a team would assemble instead of Veil: auth_request
// to an njs handler that asks OPA (a real `opa run --server`) for the same
// decision, then an njs body filter applying the decision's mask rules.
func compositeConf(dir, listen, upstream, opa string) string {
	return nginxMain(dir, true) + "http {\n" + nginxHTTPCommon(dir) + fmt.Sprintf(`    js_import veil from %[5]s/veil.js;
    subrequest_output_buffer_size 64k;
    upstream backend {
        server %[3]s;
        keepalive 64;
    }
    upstream opa {
        server %[4]s;
        keepalive 64;
    }
    server {
        listen %[2]s backlog=4096;
        location /crm/ {
            auth_request /_authz;
            auth_request_set $veil_rules $sent_http_x_veil_rules;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The filter rewrites the body: the upstream must not compress it.
            proxy_set_header Accept-Encoding "";
            js_header_filter veil.headers;
            js_body_filter veil.body;
        }
        location = /_authz {
            internal;
            js_content veil.authz;
        }
        location = /_opa {
            internal;
            proxy_pass http://opa/v1/data/veil/decision;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Content-Type application/json;
        }
    }
}
`, dir, listen, upstream, opa, dir)
}

// compositeJS is the njs side of the composite. It decodes the JWT payload
// without verifying it (what a team relying on auth_request upstream of
// nginx would do; verifying would cost more), builds OPA's input in the
// shape of Veil's, and applies the returned response_transforms of the form
// $.customers[*].<field> (mask with keep_last / format email, redact).
//
// njs clones a VM per request, so module-level state is per request: the
// body chunks collect there until the last one.
const compositeJS = `var chunks = [];

function authz(r) {
    var sub = {};
    var auth = r.headersIn.Authorization || '';
    if (auth.startsWith('Bearer ')) {
        var parts = auth.slice(7).split('.');
        try { sub = JSON.parse(Buffer.from(parts[1], 'base64url').toString()); } catch (e) { sub = {}; }
    }
    var input = {
        request: {method: r.variables.request_method, path: r.variables.request_uri.split('?')[0]},
        subject: {authenticated: !!sub.sub, id: sub.sub || '', roles: sub.roles || []}
    };
    r.subrequest('/_opa', {method: 'POST', body: JSON.stringify({input: input})}).then(function (reply) {
        var d;
        try { d = JSON.parse(reply.responseText).result; } catch (e) { d = null; }
        if (reply.status != 200 || !d || d.allow !== true) {
            r.return(403);
            return;
        }
        r.headersOut['X-Veil-Rules'] = JSON.stringify(d.response_transforms || []);
        r.return(204);
    }).catch(function (e) {
        r.return(500);
    });
}

function headers(r) {
    // The body changes length; nginx then sends it chunked.
    delete r.headersOut['Content-Length'];
    delete r.headersOut['ETag'];
}

function maskString(s, keepLast, email) {
    if (email) {
        var at = s.lastIndexOf('@');
        if (at < 0) { return '*'.repeat(s.length); }
        return '*'.repeat(at) + s.slice(at);
    }
    if (s.length <= keepLast) { return '*'.repeat(s.length); }
    return '*'.repeat(s.length - keepLast) + s.slice(s.length - keepLast);
}

function apply(doc, rules) {
    var list = doc && doc.customers;
    if (!Array.isArray(list)) { return doc; }
    for (var i = 0; i < rules.length; i++) {
        var m = /^\$\.customers\[\*\]\.([A-Za-z0-9_]+)$/.exec(rules[i].path);
        if (!m) { continue; }
        var f = m[1];
        for (var j = 0; j < list.length; j++) {
            var c = list[j];
            if (!(f in c)) { continue; }
            if (rules[i].action == 'redact') {
                delete c[f];
            } else if (rules[i].action == 'mask') {
                c[f] = maskString(String(c[f]), rules[i].keep_last || 0, rules[i].format == 'email');
            }
        }
    }
    return doc;
}

function body(r, data, flags) {
    chunks.push(data);
    if (!flags.last) { return; }
    var rules = JSON.parse(r.variables.veil_rules || '[]');
    var out;
    try {
        out = JSON.stringify(apply(JSON.parse(chunks.join('')), rules));
    } catch (e) {
        // Fail closed: never pass through a body that could not be rewritten.
        out = '{"error":"body not rewritten"}';
    }
    r.sendBuffer(out, {last: true});
}

export default {authz, headers, body};
`

// writeNginx writes conf (and the njs script) into dir.
func writeNginx(dir, conf string, njs bool) (string, error) {
	for _, sub := range []string{"tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return "", fmt.Errorf("nginx: %w", err)
		}
	}
	if njs {
		if err := os.WriteFile(filepath.Join(dir, "veil.js"), []byte(compositeJS), 0o644); err != nil {
			return "", fmt.Errorf("nginx: %w", err)
		}
	}
	p := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		return "", fmt.Errorf("nginx: %w", err)
	}
	return p, nil
}

// nginxArgs runs nginx in the foreground with its own prefix and log.
func nginxArgs(bin, dir, conf string) []string {
	return []string{bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf}
}
