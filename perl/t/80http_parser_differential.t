# The worker's HTTP parser against picohttpparser (HTTP::Parser::XS): a few
# thousand request heads, generated and then mutated byte by byte from a
# fixed seed, go to a real worker and to parse_http_request. Both must
# accept or refuse alike, and what the app sees of an accepted head (method,
# target, path, query, protocol, header fields) must be what picohttpparser
# makes of it - but where psgi-vassal is stricter on purpose: every such
# disagreement must fall under an item of psgi-vassal's STRICTNESS section,
# which the test reads, or it fails and shows the head.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use HTTP::Parser::XS qw(parse_http_request);
use Socket qw(SHUT_WR);
use Time::HiRes qw(time);

my $CASES = 3000;

# the STRICTNESS items of the POD: "=item name: text"
my %documented;
{
    my $pod = slurp(psgi_vassal());
    my ($section) = $pod =~ /^=head1 STRICTNESS\n(.*?)^=head1 /ms or BAIL_OUT('psgi-vassal has no STRICTNESS section');
    $documented{$1} = 1 while $section =~ /^=item (\S+):/mg;
}

my $v = start_vassal(args => ['--processes', 1, '--socket-timeout', 2], app => 'http_env.psgi');
my $log_off = 0;

my $tchar = qr/[!#\$%&'*+\-.^_`|~0-9A-Za-z]/;

# Why psgi-vassal refuses a head that picohttpparser takes, as a STRICTNESS
# item, or undef. $why: the reason in the worker's log.
sub stricter_because {
    my ($head, $why) = @_;
    return 'bare-cr' if $head =~ /\r(?!\n)/;
    my ($line, $rest) = $head =~ /\A(.*?)\r?\n(.*)\z/s or return undef;
    return 'request-line' unless $line =~ /\A(\S+) (\S+) (\S+)\z/;
    my ($m, $t, $ver) = ($1, $2, $3);
    return 'method' unless $m =~ /\A$tchar+\z/;
    return 'version' unless $ver eq 'HTTP/1.1' || $ver eq 'HTTP/1.0';
    return 'target' if $t =~ /[\x00-\x20\x7f]/;
    my ($path) = $t =~ m{\A(?:https?://[^/?]*)?([^?#]*)}i;
    return 'target' if $path =~ /%(?![0-9A-Fa-f]{2})|%00/;
    if ($t !~ m{\A/}) {
        return 'target' unless $t eq '*' && $m eq 'OPTIONS'
            or $t =~ m{\Ahttps?://([^/?]*)}i && valid_authority($1);
    }
    for my $f (split /\r?\n/, $rest) {
        return 'obs-fold' if $f =~ /\A[ \t]/;
        return 'field-name' unless $f =~ /\A$tchar+:/;
        return 'field-value' if $f =~ /:.*[\x00-\x08\x0a-\x1f\x7f]/s;
    }
    return 'host' if $why =~ /Host/;
    return 'framing' if $why =~ /Content-Length|Transfer-Encoding|transfer coding/;
    return undef;
}

sub valid_authority {
    my ($a) = @_;
    my $host = qr/(?:[A-Za-z0-9\-._~!\$&'()*+,;=]|%[0-9A-Fa-f]{2})+/;
    return $a =~ /\A(?:\[[A-Za-z0-9\-._~!\$&'()*+,;=:]+\]|$host)(?::[0-9]*)?\z/;
}

# Why what the app sees differs from picohttpparser's env for this key, as a
# STRICTNESS item, or undef.
sub differs_because {
    my ($head, $k, $ours, $ref, $refenv) = @_;
    return 'underscores' if $k =~ /\AHTTP_/ && !defined $ours && $head =~ /^[^:\r\n]*_[^:\r\n]*:/m;
    return 'absolute-form' if $k eq 'PATH_INFO' && ($refenv->{REQUEST_URI} // '') =~ m{\Ahttps?://}i;
    if (defined $ours && defined $ref) {
        (my $trimmed = $ref) =~ s/[ \t]+(?=, |\z)//g;
        return 'trailing-whitespace' if $trimmed eq $ours;
        return 'content-length' if $k eq 'CONTENT_LENGTH' && $ours == $ref;
    }
    return undef;
}

# The head sent to the worker, and its answer: (status or 0, env, reason logged).
sub ask_worker {
    my ($bytes) = @_;
    my $sock = http_connect($v->{port});
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite $sock, $bytes, length($bytes) - $off, $off;
        last unless $n;
        $off += $n;
    }
    shutdown $sock, SHUT_WR;
    my $out = '';
    my $deadline = time + 5;
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno $sock, 1) = 1;
        last unless select(my $rout = $rin, undef, undef, $deadline - time) > 0;
        last unless sysread $sock, $out, 65536, length $out;
    }
    close $sock;
    my ($status) = $out =~ m{\AHTTP/1\.[01] ([0-9]{3})};
    my %env;
    if (($status // 0) == 200) {
        my (undef, $body) = split /\r\n\r\n/, $out, 2;
        for (split /\n/, $body // '') {
            my ($k, $val) = map { s/\\x([0-9a-f]{2})/chr hex $1/ger } /\A([^=]*)=(.*)\z/ or next;
            $env{$k} = $val;
        }
    }
    my $log = slurp($v->{log});
    my $new = substr($log, $log_off);
    $log_off = length $log;
    my ($why) = $new =~ /bad request: (.*)/;
    return ($status // 0, \%env, $why // '');
}

# ---------------------------------------------------------------- heads

srand 80;
sub pick { $_[int rand @_] }
sub word { my ($chars, $max) = @_; join '', map { substr $chars, int rand length $chars, 1 } 1 .. 1 + int rand $max }

my $pchars = join '', 'a' .. 'z', 'A' .. 'Z', 0 .. 9, split //, "-._~!\$&'()*+,;=:\@";
sub target {
    my $path = join '', map { '/' . word($pchars, 8) . (rand() < 0.1 ? sprintf('%%%02X', int rand 256) : '') } 1 .. 1 + int rand 3;
    $path .= '?' . join '&', map { word('abcxyz', 4) . '=' . word($pchars . '/?', 6) } 1 .. 1 + int rand 3 if rand() < 0.5;
    $path .= '#' . word('abc', 3) if rand() < 0.05;
    return pick("http://example.com$path", "http://h:8080$path", "https://[::1]$path") if rand() < 0.1;
    return $path;
}
my @names = qw(Accept Accept-Language User-Agent Cookie X-Forwarded-For X-Request-Id Content-Type
               Referer Cache-Control X-Custom If-None-Match Connection Authorization X_Under_Score);
sub head {
    my $m = rand() < 0.05 ? 'OPTIONS' : pick(qw(GET GET GET POST HEAD PUT DELETE PATCH PROPFIND M-SEARCH));
    my $t = $m eq 'OPTIONS' && rand() < 0.5 ? '*' : target();
    my $ver = rand() < 0.85 ? 'HTTP/1.1' : 'HTTP/1.0';
    my @h;
    push @h, 'Host: ' . pick('example.com', 'h:8080', '127.0.0.1', '[::1]:80') if $ver eq 'HTTP/1.1' || rand() < 0.5;
    for (1 .. int rand 6) {
        my $val = word(join('', map { chr } 0x21 .. 0x7e) . '   ', 20);
        $val = pick('', ' ', "\t") . $val . pick('', '', ' ', "  \t") if rand() < 0.3;
        push @h, pick(@names) . ":$val";
    }
    push @h, 'Content-Length: ' . int rand 20 if rand() < 0.1;
    @h = map { rand() < 0.5 ? s/\A([^:]*):(?! )/$1: /r : $_ } @h;
    return "$m $t $ver\r\n" . join('', map { "$_\r\n" } @h) . "\r\n";
}
my @bytes = (' ', "\t", "\r", "\n", ':', "\0", "\x01", "\x7f", "\x80", "\xff", '"', '(', '@', '_', '/', '?', '#', '%', 'A', ',', '.');
sub mutate {
    my ($h) = @_;
    my $end = length($h) - 4;    # the final CRLF CRLF stays
    for (1 .. 1 + int rand 3) {
        my $at = int rand $end;
        my $op = int rand 7;
        if    ($op == 0) { substr($h, $at, 0, pick(@bytes)); $end++ }
        elsif ($op == 1) { substr($h, $at, 1, '') if $end > 1; $end-- if $end > 1 }
        elsif ($op == 2) { substr($h, $at, 1, pick(@bytes)) }
        elsif ($op == 3) { my $s = substr($h, $at, 1); substr($h, $at, 1, $s =~ /[a-z]/ ? uc $s : lc $s) }
        elsif ($op == 4) { my $i = index($h, ':', $at); if ($i > 0 && $i < $end) { substr($h, $i, 0, ' '); $end++ } }
        elsif ($op == 5) { my $i = index($h, "\r\n", $at); if ($i >= 0 && $i < $end) { substr($h, $i, 2, "\n"); $end-- } }
        else             { my $i = index($h, "\r\n", $at); if ($i >= 0 && $i < $end) { substr($h, $i + 2, 0, " folded\r\n"); $end += 9 } }
    }
    return $h;
}

# ---------------------------------------------------------------- compare

my (%agree, %because, @unexplained);
my $t0 = time;
for my $n (1 .. $CASES) {
    my $head = head();
    $head = mutate($head) if $n % 2 == 0;
    my %ref;
    my $rc = parse_http_request($head, \%ref);
    next if $rc == -2;    # not a head to picohttpparser either: nothing to compare
    $head = substr($head, 0, $rc) if $rc > 0;    # a second head in it is a pipelined request
    my $body = '';
    if ($rc > 0) {
        $body = 'x' x $ref{CONTENT_LENGTH} if ($ref{CONTENT_LENGTH} // '') =~ /\A[0-9]{1,3}\z/;
        $body = "0\r\n\r\n" if ($ref{HTTP_TRANSFER_ENCODING} // '') =~ /chunked/i;
    }
    my ($status, $env, $why) = ask_worker($head . $body);
    my $ours_ok = $status == 200;
    my $ref_ok = $rc > 0;
    my $show = $head =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ger;
    if ($ours_ok != $ref_ok) {
        my $item = !$ours_ok ? stricter_because($head, $why) : undef;
        if ($item && $documented{$item}) { $because{$item}++ }
        else {
            push @unexplained, ($ours_ok ? 'accepted by psgi-vassal only' : "refused by psgi-vassal only ($status, $why)")
                . ($item ? " [item $item not in STRICTNESS]" : '') . ": $show";
        }
        next;
    }
    if (!$ours_ok) { $agree{refused}++; next }
    if ($ref{REQUEST_METHOD} eq 'HEAD') { $agree{accepted}++; next }    # a response without the env
    my $same = 1;
    my %keys = map { $_ => 1 } grep { /\A(?:HTTP_|CONTENT_|REQUEST_|PATH_INFO|QUERY_STRING|SERVER_PROTOCOL)/ } keys %ref, keys %$env;
    for my $k (sort keys %keys) {
        my ($o, $r) = ($env->{$k}, $ref{$k});
        next if defined $o && defined $r && $o eq $r;
        next if $k eq 'HTTP_TRANSFER_ENCODING' && $body =~ /\A0\r\n/;    # decoded: see 'chunked'
        my $item = differs_because($head, $k, $o, $r, \%ref);
        if ($item && $documented{$item}) { $because{$item}++; next }
        $same = 0;
        push @unexplained, "$k differs: psgi-vassal " . ($o // 'none') . ', picohttpparser ' . ($r // 'none') . ": $show";
    }
    $agree{accepted}++ if $same;
}
my $secs = time - $t0;

cmp_ok $agree{accepted} // 0, '>', $CASES / 5, "heads both accept with the same env ($agree{accepted})";
cmp_ok $agree{refused} // 0, '>', $CASES / 20, "heads both refuse ($agree{refused})";
is scalar(@unexplained), 0, 'every disagreement is a documented STRICTNESS item'
    or diag join "\n", @unexplained[0 .. ($#unexplained < 40 ? $#unexplained : 40)];
diag scalar(@unexplained) . ' unexplained' if @unexplained;
note "$_: $because{$_}" for sort keys %because;
note sprintf '%d cases in %.1f s', $CASES, $secs;
ok stop_vassal($v), 'stops';
done_testing;
