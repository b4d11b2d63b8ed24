# The uwsgi protocol: nothing from the wire may set a psgi.* or psgix.* key
# of the env (psgix.harakiri.commit = 1 from a front end used to stop the
# worker after the request). Such keys are dropped, whatever their case,
# with one log line per request (one request a connection) however many
# there are; every other key still reaches the app.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $dir = tempdir();
my $app = write_file("$dir/keys.psgi", <<'APP');
sub {
    my ($env) = @_;
    # key names only: reading psgix.io would take the connection
    my @keys = sort grep { /\Apsgix?\./i } keys %$env;
    return [200, ['Content-Type' => 'text/plain'],
            ["pid=$$\nscheme=$env->{'psgi.url_scheme'}\nx=" . ($env->{HTTP_X} // '') . "\nkeys=@keys\n"]];
}
APP
my $uport = empty_port();
my $v = start_vassal(dir => $dir, args => ['--processes', 1, '--socket', "127.0.0.1:$uport", '--psgi', $app]);
my @workers = children_of($v->{pid});

my @base = (REQUEST_METHOD => 'GET', REQUEST_URI => '/', PATH_INFO => '/', SERVER_PROTOCOL => 'HTTP/1.1',
            SERVER_NAME => 'front', SERVER_PORT => '80', HTTP_X => 'kept');
my @hostile = ('psgix.harakiri.commit' => 1, 'psgi.url_scheme' => 'gopher', 'psgix.session' => 'evil',
               'PSGIX.Logger' => 'x', 'psgi.version' => '9', 'psgix.io' => 'x');

sub answer {
    my ($out) = @_;
    my ($head, $body) = split /\r\n\r\n/, $out, 2;
    return { map { split /=/, $_, 2 } split /\n/, $body // '' };
}

my $r = answer(uwsgi_roundtrip($uport, [@base, @hostile]));
my $pid = $r->{pid};
ok $pid, 'answered';
is $r->{scheme}, 'http', 'psgi.url_scheme is the server\'s, not the wire\'s';
is $r->{x}, 'kept', 'other keys reach the app';
unlike $r->{keys}, qr/psgix\.harakiri\.commit|psgix\.session|PSGIX\.Logger/, 'psgix.* keys from the wire are not in the env';
like $r->{keys}, qr/\bpsgix\.harakiri\b/, 'the server\'s own psgix keys are';

$r = answer(uwsgi_roundtrip($uport, [@base, @hostile]));
is $r->{pid}, $pid, 'the worker did not exit after psgix.harakiri.commit from the wire';
is_deeply [children_of($v->{pid})], \@workers, 'the same worker is still there';

my @lines = slurp($v->{log}) =~ /^(\[psgi-vassal pid \d+\] uwsgi request: .*)$/mg;
is scalar @lines, 2, 'one log line per request';
like $lines[0] // '', qr/uwsgi request: 6 psgi\.\*\/psgix\.\* key\(s\) from the front end dropped \(psgix\.harakiri\.commit, \.\.\.\)$/,
    'naming how many and the first';

$r = answer(uwsgi_roundtrip($uport, [@base, map { ("psgix.k$_" => $_) } 1 .. 500]));
is $r->{pid}, $pid, '500 psgix keys: answered';
@lines = slurp($v->{log}) =~ /^(\[psgi-vassal pid \d+\] uwsgi request: .*)$/mg;
is scalar @lines, 3, '  with one log line';
like $lines[-1], qr/500 psgi.*dropped \(psgix\.k1, \.\.\.\)$/, '  counting all of them';

$r = answer(uwsgi_roundtrip($uport, [@base]));
is $r->{x}, 'kept', 'a request without such keys';
is scalar(() = slurp($v->{log}) =~ /uwsgi request: /g), 3, '  logs nothing';

ok stop_vassal($v), 'stops';

done_testing;
