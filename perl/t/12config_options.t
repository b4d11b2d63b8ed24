# Every option the issue lists parses from the command line, an ini file and
# the Emperor's config pipe, with uWSGI's types; repeated keys keep every
# value where that makes sense; bad values are errors naming the option.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::Config;
use Vassal::Packet;
use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);

my @all = qw(socket http-socket processes workers master psgi early-psgi early-perl-exec perl-exec
             perl-exec-post-fork perl-local-lib fork-server chdir env max-requests harakiri listen
             chmod-socket idle die-on-idle heartbeat procname need-app limit-post socket-timeout
             buffer-size fork-server-allow-uid post-buffering ini);
for my $o (@all) {
    ok defined Vassal::Config->new->canonical($o), "option $o is known";
}

my $ini = <<'INI';
[uwsgi]
socket = 127.0.0.1:3031
socket = /run/app.sock
http-socket = :8080
processes = 4
master = true
psgi = app.psgi
early-psgi = base.psgi
early-perl-exec = preload.pl
early-perl-exec = more.pl
perl-exec = before.pl
perl-exec-post-fork = after.pl
perl-local-lib = /opt/ll
fork-server = /run/fork.sock
fork-server-allow-uid = 33
fork-server-allow-uid = www-data
chdir = /srv/app
env = A=1
env = B=two words
max-requests = 1000
harakiri = 30
listen = 512
chmod-socket = 660
idle = 60
die-on-idle = true
heartbeat = 10
procname = app1 master
need-app = false
limit-post = 1048576
socket-timeout = 10
buffer-size = 32768
post-buffering = 8192
plugins = psgi
INI

sub check {
    my ($c, $where) = @_;
    is_deeply [$c->get_all('socket')], ['127.0.0.1:3031', '/run/app.sock'], "$where: socket repeats";
    is $c->get('http-socket'), ':8080', "$where: http-socket";
    is $c->get('workers'), 4, "$where: processes";
    is $c->get('master'), 1, "$where: master";
    is_deeply [$c->get_all('early-perl-exec')], ['preload.pl', 'more.pl'], "$where: early-perl-exec repeats";
    is_deeply [$c->get_all('perl-exec')], ['before.pl'], "$where: perl-exec";
    is_deeply [$c->get_all('perl-exec-post-fork')], ['after.pl'], "$where: perl-exec-post-fork";
    is $c->get('perl-local-lib'), '/opt/ll', "$where: perl-local-lib";
    is_deeply [$c->get_all('fork-server-allow-uid')], [33, 'www-data'], "$where: fork-server-allow-uid repeats";
    is_deeply [$c->get_all('env')], ['A=1', 'B=two words'], "$where: env repeats";
    is $c->get('max-requests'), 1000, "$where: max-requests";
    is $c->get('harakiri'), 30, "$where: harakiri";
    is $c->get('listen'), 512, "$where: listen";
    is $c->get('chmod-socket'), '660', "$where: chmod-socket";
    is $c->get('idle'), 60, "$where: idle";
    is $c->get('die-on-idle'), 1, "$where: die-on-idle";
    is $c->get('heartbeat'), 10, "$where: heartbeat";
    is $c->get('procname'), 'app1 master', "$where: procname";
    is $c->get('need-app'), 0, "$where: need-app = false";
    is $c->get('limit-post'), 1048576, "$where: limit-post";
    is $c->get('socket-timeout'), 10, "$where: socket-timeout";
    is $c->get('buffer-size'), 32768, "$where: buffer-size";
    is $c->get('post-buffering'), 8192, "$where: post-buffering";
}

my $dir = tempdir();
write_file("$dir/all.ini", $ini);
check(Vassal::Config->from_argv(['--ini', "$dir/all.ini"]), 'ini');

{
    socketpair(my $e, my $v, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die $!;
    syswrite $e, Vassal::Packet::encode_packet(115, 0, $ini);
    local $ENV{UWSGI_EMPEROR_FD_CONFIG} = fileno $v;
    my $c = Vassal::Config->from_argv(['--ini', 'emperor://all.ini']);
    check($c, 'config pipe');
    is $c->name, 'all', 'named after emperor://all.ini';
}

{
    my @args;
    for my $line (grep { /=/ } split /\n/, $ini) {
        my ($k, $v) = $line =~ /\A(\S+) = (.*)\z/;
        push @args, "--$k", $v;
    }
    check(Vassal::Config->from_argv(\@args), 'command line');
}

my $c = Vassal::Config->from_argv(['--chmod-socket', '--die-on-idle', '--need-app', '--master', '--chmod-socket']);
is $c->get('chmod-socket'), '666', 'chmod-socket without a value: 666 (as uWSGI)';
is $c->get('die-on-idle'), 1, 'a boolean without a value is true';
is $c->get('need-app'), 1, 'need-app';
$c = Vassal::Config->from_argv(['--max-requests', 0, '--harakiri=0', '--limit-post', '0']);
is $c->get('max-requests'), 0, 'max-requests 0 (never)';
is $c->get('harakiri'), 0, 'harakiri 0 (never)';

my @bad = (
    [['--harakiri', 'soon'],        qr/option 'harakiri' must be a non-negative integer, not 'soon'/],
    [['--processes', 0],            qr/option 'processes' must be a positive integer, not '0'/],
    [['--listen', -1],              qr/option 'listen' must be a positive integer, not '-1'/],
    [['--chmod-socket', 'rw'],      qr/option 'chmod-socket' must be an octal mode like 660, not 'rw'/],
    [['--chmod-socket', '999'],     qr/option 'chmod-socket' must be an octal mode/],
    [['--die-on-idle=maybe'],       qr/option 'die-on-idle' must be true or false, not 'maybe'/],
    [['--plugins', 'python3'],      qr/option 'plugins': plugin 'python3' is not available \(only psgi is built in\)/],
    [['--vacuum'],                  qr/unknown option '--vacuum'/],
    [['--buffer-size', '64k'],      qr/option 'buffer-size' must be a positive integer, not '64k'/],
);
for my $case (@bad) {
    my ($args, $re) = @$case;
    eval { Vassal::Config->from_argv($args) };
    like $@, $re, "error for @$args";
}
write_file("$dir/typo.ini", "[uwsgi]\nhttp-socket = :1\nharakri = 30\n");
eval { Vassal::Config->from_argv(['--ini', "$dir/typo.ini"]) };
like $@, qr/unknown option 'harakri' \(\Q$dir\E\/typo\.ini line 3\)/, 'a typo in an ini file names the key, file and line';

done_testing;
