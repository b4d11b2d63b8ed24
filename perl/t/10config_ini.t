# Options from ini files: the [uwsgi] section, magic %d %n $(VAR), repeated
# keys, includes, order against the command line.
use strict;
use warnings;
use Test::More;
use Cwd ();
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::Config;
use Vassal::Packet;

my $dir = Cwd::abs_path(tempdir());
mkdir "$dir/conf";

write_file("$dir/conf/app1.ini", <<'INI');
; a comment
# another comment
[other]
psgi = not-this-one.psgi

[uwsgi]
psgi = %dapp.psgi
http-socket = 127.0.0.1:$(VASSAL_TEST_PORT)
http-socket = 127.0.0.1:$(VASSAL_TEST_UNSET_VARIABLE)9
processes = 2
processes = 3
master = true
fork-server = /run/%n-%%.sock

[more]
psgi = nor-this.psgi
INI

{
    local $ENV{VASSAL_TEST_PORT} = 8181;
    delete local $ENV{VASSAL_TEST_UNSET_VARIABLE};
    my $c = Vassal::Config->from_argv(['--ini', "$dir/conf/app1.ini"]);
    is $c->name, 'app1', 'name: the file name without extension';
    is $c->file, "$dir/conf/app1.ini", 'file';
    is $c->get('psgi'), "$dir/conf/app.psgi", '%d is the directory with a trailing slash';
    is_deeply [$c->get_all('http-socket')], ['127.0.0.1:8181', '127.0.0.1:9'],
        'repeated http-socket keeps every value; $(VAR) expands, unset to empty';
    is $c->get('http-socket'), '127.0.0.1:9', 'get returns the last one';
    is $c->get('processes'), 3, 'a repeated single-valued key: the last wins';
    is $c->get('workers'), 3, 'workers is an alias of processes';
    is $c->get('master'), 1, 'master = true';
    is $c->get('fork-server'), '/run/app1-%.sock', '%n and %%';
    ok !$c->is_set('early-psgi'), 'early-psgi not set';
}

# the command line and the ini apply in order
{
    local $ENV{VASSAL_TEST_PORT} = 1;
    my $c = Vassal::Config->from_argv(['--processes', '7', '--ini', "$dir/conf/app1.ini", '--workers=9']);
    is $c->get('processes'), 9, 'later options override the ini';
    my $c2 = Vassal::Config->from_argv(['--processes', '7', '--ini', "$dir/conf/app1.ini"]);
    is $c2->get('processes'), 3, 'the ini overrides earlier options';
}

# FILE:SECTION and nested ini
write_file("$dir/base.ini", "[uwsgi]\nini = %dconf/app1.ini:more\nprocesses = 4\n");
{
    my $c = Vassal::Config->from_argv(['--ini', "$dir/base.ini"]);
    is $c->name, 'base', 'name from the first ini';
    is $c->get('psgi'), 'nor-this.psgi', 'FILE:SECTION of a nested ini';
    is $c->get('processes'), 4, 'nested ini applies where it stands';
}

# relative path: %d is still absolute
{
    my $cwd = Cwd::getcwd();
    chdir $dir or die;
    my $c = Vassal::Config->from_argv(['--ini', 'conf/app1.ini']);
    chdir $cwd;
    is $c->get('psgi'), "$dir/conf/app.psgi", '%d is absolute for a relative config path';
}

# errors
write_file("$dir/bad.ini", "[uwsgi]\npsgi = a.psgi\nno-such-thing = 1\n");
eval { Vassal::Config->from_argv(['--ini', "$dir/bad.ini"]) };
like $@, qr/unknown option 'no-such-thing' \(\Q$dir\E\/bad\.ini line 3\)/, 'unknown ini key names the file and line';

write_file("$dir/bad2.ini", "[uwsgi]\njust a line\n");
eval { Vassal::Config->from_argv(['--ini', "$dir/bad2.ini"]) };
like $@, qr/bad2\.ini line 2: expected 'key = value'/, 'a line without =';

write_file("$dir/bad3.ini", "[uwsgi]\nprocesses = many\n");
eval { Vassal::Config->from_argv(['--ini', "$dir/bad3.ini"]) };
like $@, qr/option 'processes' must be a positive integer, not 'many'/, 'invalid integer';

eval { Vassal::Config->from_argv(['--ini', "$dir/missing.ini"]) };
like $@, qr/cannot read ini file '\Q$dir\E\/missing\.ini'/, 'missing file';

write_file("$dir/loop.ini", "[uwsgi]\nini = $dir/loop.ini\n");
eval { Vassal::Config->from_argv(['--ini', "$dir/loop.ini"]) };
like $@, qr/nested more than 10 deep/, 'include loop';

# emperor://NAME reads the config pipe
{
    use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);
    socketpair(my $e, my $v, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die $!;
    syswrite $e, Vassal::Packet::encode_packet(115, 0, "[uwsgi]\nhttp-socket = 127.0.0.1:8081\nprocesses = 2\n");
    local $ENV{UWSGI_EMPEROR_FD_CONFIG} = fileno $v;
    my $c = Vassal::Config->from_argv(['--ini', 'emperor://app2.ini']);
    is $c->name, 'app2', 'name of an emperor:// config';
    is $c->get('http-socket'), '127.0.0.1:8081', 'config from the config pipe';
    is $c->get('processes'), 2, 'processes from the config pipe';
}

done_testing;
